"""Shared fixtures.

* ``settings``: isolated settings in a temp data dir (fresh secret, fresh SQLite file).
* ``db_url``: parametrised over ``sqlite`` and ``postgresql`` (a throwaway cluster for the session);
  use ``engine``/``session`` for a migrated database on each.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.pg import PgCluster
from zhikong.core import config as config_mod
from zhikong.core.db import _engine_for, make_engine, session_factory
from zhikong.core.migrate import upgrade

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[config_mod.Settings]:
    monkeypatch.setenv("ZHIKONG_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ZHIKONG_SECRET_KEY", "test-secret-key-0123456789abcdef")
    monkeypatch.delenv("ZHIKONG_DATABASE_URL", raising=False)
    monkeypatch.delenv("ZHIKONG_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    config_mod.get_settings.cache_clear()
    _engine_for.cache_clear()
    yield config_mod.get_settings()
    config_mod.get_settings.cache_clear()
    _engine_for.cache_clear()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, settings: config_mod.Settings,
           monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        url = settings.resolved_database_url
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"t{next(_counter)}")
    monkeypatch.setenv("ZHIKONG_DATABASE_URL", url)
    config_mod.get_settings.cache_clear()
    _engine_for.cache_clear()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    s = session_factory(engine)()
    try:
        yield s
    finally:
        s.close()
