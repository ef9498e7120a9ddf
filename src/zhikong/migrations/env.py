"""Alembic environment: the engine comes from ``config.attributes`` (see ``core.migrate``)."""

from __future__ import annotations

from alembic import context

from zhikong.core.db import Base, get_engine, load_all_models

load_all_models()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine") or get_engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
