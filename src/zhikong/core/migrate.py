"""Alembic, driven from code. Each domain keeps its own migration branch (branch label = domain),
so domains evolve independently; ``upgrade('heads')`` brings every branch up to date."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from zhikong.core.db import get_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["engine"] = engine or get_engine()
    return cfg


def upgrade(engine: Engine | None = None, revision: str = "heads") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(revision: str, engine: Engine | None = None) -> None:
    command.downgrade(alembic_config(engine), revision)


def current_heads(engine: Engine | None = None) -> set[str]:
    with (engine or get_engine()).connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def current_heads_text(engine: Engine | None = None) -> str:
    heads = sorted(current_heads(engine))
    return ", ".join(heads) if heads else "(empty)"
