"""The in-process event hook: immediate or after commit, dropped on rollback, failures isolated."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from zhikong.core import events
from zhikong.core.events import Event, publish, subscribe


@pytest.fixture
def seen() -> Iterator[list[Event]]:
    got: list[Event] = []

    def spy(ev: Event) -> None:
        got.append(ev)

    subscribe("test.thing")(spy)
    yield got
    events._handlers["test.thing"].remove(spy)


def test_publish_without_session_is_immediate(seen: list[Event]) -> None:
    publish("test.thing", {"n": 1})
    publish("test.other", {"n": 2})
    assert [(e.name, dict(e.payload)) for e in seen] == [("test.thing", {"n": 1})]


def test_with_a_session_after_commit_only(seen: list[Event], tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'e.db'}")
    with Session(engine) as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
        publish("test.thing", {"n": 1}, session=s)
        assert seen == []
        s.rollback()  # dropped
        s.execute(text("INSERT INTO t VALUES (1)"))
        publish("test.thing", {"n": 2}, session=s)
        publish("test.thing", {"n": 3}, session=s)
        assert seen == []
        s.commit()
        assert [e.payload["n"] for e in seen] == [2, 3]
        assert seen[0].bind is engine
        s.commit()  # nothing pending: nothing delivered twice
        assert len(seen) == 2


def test_savepoints_neither_deliver_nor_drop(seen: list[Event], tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'e.db'}")
    with Session(engine) as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
        publish("test.thing", {"n": 1}, session=s)
        with s.begin_nested():
            s.execute(text("INSERT INTO t VALUES (1)"))
        assert seen == []  # a released savepoint is not the commit
        with pytest.raises(ValueError), s.begin_nested():
            raise ValueError
        s.commit()  # a savepoint rolled back did not drop what the transaction published
        assert [e.payload["n"] for e in seen] == [1]


def test_a_failing_subscriber_is_logged_and_the_others_still_run(
        seen: list[Event], caplog: pytest.LogCaptureFixture) -> None:
    def broken(ev: Event) -> None:
        raise RuntimeError("boom")

    events._handlers["test.thing"].insert(0, broken)
    try:
        with caplog.at_level(logging.ERROR, logger="zhikong.core.events"):
            publish("test.thing", {})
    finally:
        events._handlers["test.thing"].remove(broken)
    assert len(seen) == 1
    assert "subscriber" in caplog.text and "boom" in caplog.text


def test_domains_subscribe_through_their_subscribers_module() -> None:
    from zhikong.enterprise.subscribers import recompute_on_event

    for name in ("tracing.cases_registered", "tracing.run_finished", "screening.risk_areas_imported"):
        assert recompute_on_event in events.subscribers(name)
