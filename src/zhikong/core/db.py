"""The operational database: declarative base, engine, sessions and the unit of work.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL (psycopg 3) is the production
database. Models of every domain live in ``zhikong.<domain>.models`` and share one ``Base``;
``load_all_models()`` imports them so that metadata is complete (for Alembic and tests).
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from zhikong.core.errors import Conflict, EngineError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_cls: type[enum.Enum], length: int = 24) -> Enum:
    """A portable enum column that stores the member *values* (lower-case words) as VARCHAR."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def load_all_models() -> None:
    """Import ``zhikong.<domain>.models`` for every domain so ``Base.metadata`` is complete."""
    import zhikong

    for mod in pkgutil.iter_modules(zhikong.__path__):
        if mod.ispkg:
            try:
                importlib.import_module(f"zhikong.{mod.name}.models")
            except ModuleNotFoundError as e:
                if e.name != f"zhikong.{mod.name}.models":
                    raise


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings zhikong relies on for each backend."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    from zhikong.core.config import get_settings

    return _engine_for(get_settings().resolved_database_url)


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


@contextmanager
def unit_of_work(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back on any error.

    Database integrity errors become ``Conflict`` and driver errors ``EngineError`` (``from e``).
    """
    session = session_factory(engine)()
    try:
        with committing(session):
            yield session
    finally:
        session.close()


@contextmanager
def committing(session: Session) -> Iterator[Session]:
    """Commit ``session`` when the block succeeds, roll back on any error (mapped as in
    ``unit_of_work``); the caller closes the session."""
    try:
        yield session
        session.commit()
    except IntegrityError as e:
        session.rollback()
        raise Conflict(f"the change conflicts with stored data: {e.orig}") from e
    except DBAPIError as e:
        session.rollback()
        raise EngineError(f"database error: {e.orig}") from e
    except BaseException:
        session.rollback()
        raise
