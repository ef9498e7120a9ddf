from __future__ import annotations

from sqlalchemy import Engine, inspect

from zhikong.core.migrate import current_heads, downgrade, upgrade


def test_upgrade_creates_tables_and_reaches_every_head(engine: Engine) -> None:
    names = set(inspect(engine).get_table_names())
    assert {"admin_unit", "person", "household", "place"} <= names
    assert "0001_foundation" in current_heads(engine)


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    downgrade("base", engine)
    assert "person" not in set(inspect(engine).get_table_names())
    upgrade(engine)
    assert "person" in set(inspect(engine).get_table_names())
