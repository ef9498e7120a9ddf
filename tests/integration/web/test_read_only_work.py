"""``run_as_user(..., read_only=True)``: the work runs without a transaction (autocommit), and the
connection goes back to the pool in its usual transactional mode."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from zhikong.auth.models import User
from zhikong.core.db import session_factory
from zhikong.web.deps import SessionUser, _commit_work


def _level(engine: Engine, read_only: bool) -> str | None:
    session = session_factory(engine)()
    try:
        def work(s: Session, user: User) -> str | None:
            conn = s.connection()
            conn.execute(text("SELECT 1"))
            level: str | None = conn.get_execution_options().get("isolation_level")
            return level

        return _commit_work(SessionUser(session, User(), connected=False), work, read_only)
    finally:
        session.close()


def test_read_only_work_uses_autocommit(engine: Engine) -> None:
    assert _level(engine, True) == "AUTOCOMMIT"
    assert _level(engine, False) != "AUTOCOMMIT"  # the pooled connection is transactional again
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
            assert not conn.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
