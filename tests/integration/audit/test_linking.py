"""Appending without the chain lock, linking after commit: no record lost, none chained twice,
tampering before and after the link detected, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, insert, select, text, update

from zhikong import audit
from zhikong.audit import linker
from zhikong.audit.models import GENESIS_HASH, AuditHead, AuditRecord
from zhikong.audit.service import canonical, compute_hash
from zhikong.core.db import make_engine, unit_of_work
from zhikong.core.errors import Conflict
from zhikong.core.time import utcnow


def _verify(engine: Engine) -> audit.VerifyResult:
    with unit_of_work(engine) as s:
        return audit.verify(s)


def _chain(engine: Engine) -> list[tuple[int, int | None, str]]:
    """(id, seq, subject_id) of every record, by id."""
    with unit_of_work(engine) as s:
        cols = (AuditRecord.id, AuditRecord.seq, AuditRecord.subject_id)
        rows = s.execute(select(*cols).order_by(AuditRecord.id))
        return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def no_linking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if the process stopped between each commit and its link."""
    monkeypatch.setattr(linker, "link_soon", lambda bind: None)
    from zhikong.audit import subscribers

    monkeypatch.setattr(subscribers, "link_soon", lambda bind: None)
    yield


def test_linked_after_commit_not_before(engine: Engine) -> None:
    with unit_of_work(engine) as s:
        rec = audit.record(s, "tester", "thing.do", "thing", 1)
        assert rec.seq is None and rec.hash is None and rec.seal and len(rec.seal) == 96
        audit.record(s, "tester", "thing.do", "thing", 2)
    assert [seq for _, seq, _ in _chain(engine)] == [1, 2]
    r = _verify(engine)
    assert r.ok and r.count == 2 and r.pending == 0, r.problems


def test_rollback_leaves_nothing(engine: Engine) -> None:
    with pytest.raises(RuntimeError), unit_of_work(engine) as s:
        audit.record(s, "tester", "thing.do", "thing", 1)
        raise RuntimeError("the change failed")
    with unit_of_work(engine) as s:
        audit.record(s, "tester", "thing.do", "thing", 2)
    chain = _chain(engine)
    assert [(seq, sid) for _, seq, sid in chain] == [(1, "2")]
    assert _verify(engine).ok


def test_unlinked_records_are_linked_by_the_worker_and_verify(engine: Engine, no_linking: None) -> None:
    from zhikong.tasks.worker import run_once

    for i in range(3):
        with unit_of_work(engine) as s:
            audit.record(s, "tester", "thing.do", "thing", i)
    assert all(seq is None for _, seq, _ in _chain(engine))
    r = _verify(engine)
    assert r.ok and r.count == 0 and r.pending == 3, r.problems
    assert run_once(engine).audit_linked == 3
    assert [seq for _, seq, _ in _chain(engine)] == [1, 2, 3]
    assert run_once(engine).audit_linked == 0  # never chained twice
    r = _verify(engine)
    assert r.ok and r.count == 3 and r.pending == 0


def test_cli_verify_links_what_a_stopped_process_left(engine: Engine, no_linking: None) -> None:
    from typer.testing import CliRunner

    from zhikong.cli import app

    with unit_of_work(engine) as s:
        audit.record(s, "tester", "thing.do", "thing", 1)
    out = CliRunner().invoke(app, ["audit", "verify"])
    assert out.exit_code == 0 and "1 records" in out.output, out.output
    assert [seq for _, seq, _ in _chain(engine)] == [1]


def test_edited_before_link_is_not_chained_and_reported(engine: Engine, no_linking: None) -> None:
    with unit_of_work(engine) as s:
        audit.record(s, "tester", "thing.do", "thing", 1, {"n": 1})
        audit.record(s, "tester", "thing.do", "thing", 2, {"n": 2})
    with unit_of_work(engine) as s:
        first = s.scalar(select(func.min(AuditRecord.id)))
        s.execute(update(AuditRecord).where(AuditRecord.id == first).values(detail='{"n":100}'))
    assert linker.link_now(engine) == 1
    chain = _chain(engine)
    assert chain[0][1] is None and chain[1][1] == 1
    r = _verify(engine)
    said = [p for p in r.problems if f"unlinked record id {first}" in p and "seal" in p]
    assert not r.ok and said, r.problems


def test_forged_record_is_not_chained(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    with unit_of_work(engine) as s:
        audit.record(s, "tester", "thing.do", "thing", 1)
    with unit_of_work(engine) as s:  # no secret: a made-up seal
        s.execute(insert(AuditRecord).values(
            at=utcnow(), actor="admin", action="task.accept", subject_type="task", subject_id="9",
            detail="{}", seal="a" * 96))
    with caplog.at_level("ERROR", logger="zhikong.audit.service"):
        assert linker.link_now(engine) == 0
        assert linker.link_now(engine) == 0
    assert len([r for r in caplog.records if "seal does not match" in r.getMessage()]) == 1  # once
    r = _verify(engine)
    assert not r.ok and r.count == 1 and any("forged" in p for p in r.problems)


def test_copied_seal_is_refused(engine: Engine, no_linking: None) -> None:
    with unit_of_work(engine) as s:
        audit.record(s, "tester", "thing.do", "thing", 1)
    with unit_of_work(engine) as s:
        row = s.execute(select(AuditRecord)).scalar_one()
        copy = {c: getattr(row, c) for c in ("at", "actor_id", "actor", "action", "subject_type",
                                             "subject_id", "detail", "seal")}
    with pytest.raises(Conflict), unit_of_work(engine) as s:
        s.execute(insert(AuditRecord).values(**copy))
    assert linker.link_now(engine) == 1
    assert _verify(engine).count == 1


def test_unlinking_a_chained_record_leaves_a_gap(engine: Engine) -> None:
    with unit_of_work(engine) as s:
        for i in range(4):
            audit.record(s, "tester", "thing.do", "thing", i)
    with unit_of_work(engine) as s:
        s.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(seq=None, prev_hash=None, hash=None))
    linker.link_now(engine)  # chains it again, at the end
    r = _verify(engine)
    assert not r.ok and any("record 2..2 missing" in p for p in r.problems), r.problems


def test_background_linker(engine: Engine) -> None:
    bg = linker.start_background()
    try:
        for i in range(20):
            with unit_of_work(engine) as s:
                audit.record(s, "tester", "thing.do", "thing", i)
        assert bg.running
    finally:
        linker.stop_background()
    assert not bg.running and bg.linked == 20
    assert sorted(seq or 0 for _, seq, _ in _chain(engine)) == list(range(1, 21))
    r = _verify(engine)
    assert r.ok and r.count == 20 and r.pending == 0, r.problems


def test_concurrent_writers_and_linkers(engine: Engine, db_url: str) -> None:
    """Several "processes" (own engines), each appending from threads and linking in the
    background, plus inline linkers: every record chained exactly once, one unbroken chain."""
    writers, per_writer = 4, 15
    engines = [make_engine(db_url) for _ in range(3)]
    linkers = [linker.BackgroundLinker(min_interval=0).start() for _ in engines]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        eng = engines[k % len(engines)]
        try:
            for i in range(per_writer):
                with unit_of_work(eng) as s:
                    audit.record(s, f"w{k}", "thing.do", "thing", f"{k}-{i}")
                    if i % 2:
                        audit.record(s, f"w{k}", "thing.also", "thing", f"{k}-{i}")
                if k % 2:
                    linkers[k % len(linkers)].notify(eng)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for lk in linkers:
        lk.stop()
    for eng in engines:
        eng.dispose()
    assert not errors, errors
    expected = writers * (per_writer + per_writer // 2)
    chain = _chain(engine)
    assert len(chain) == expected
    seqs = sorted(seq or 0 for _, seq, _ in chain)
    assert seqs == list(range(1, expected + 1))
    r = _verify(engine)
    assert r.ok and r.count == expected and r.pending == 0, r.problems


@pytest.mark.postgres
def test_commit_order_not_id_order(engine: Engine, db_url: str) -> None:
    """A record appended first but committed last is chained last; nothing waits for it."""
    if not db_url.startswith("postgresql"):
        pytest.skip("two open write transactions at once: PostgreSQL")
    with unit_of_work(engine) as slow:
        early = audit.record(slow, "slow", "thing.do", "thing", "early")
        with unit_of_work(engine) as fast:  # commits (and links) while `slow` is still open
            late = audit.record(fast, "fast", "thing.do", "thing", "late")
        assert early.id < late.id
        with unit_of_work(engine) as s:
            assert s.scalar(select(AuditRecord.seq).where(AuditRecord.id == late.id)) == 1
    by_sid = {sid: seq for _, seq, sid in _chain(engine)}
    assert by_sid == {"late": 1, "early": 2}
    assert _verify(engine).ok


def test_records_from_before_the_upgrade_stay_valid(db_url: str) -> None:
    """A database with records chained by the old scheme (``audit_0001``: id = position) upgrades
    to ``seq = id``, verifies, and goes on chaining after them; and downgrades back."""
    from zhikong.core.migrate import downgrade, upgrade

    eng = make_engine(db_url)
    try:
        upgrade(eng, "audit_0001")
        prev, at = GENESIS_HASH, utcnow()
        with eng.begin() as conn:
            for i in range(1, 4):
                detail = f'{{"i":{i}}}'
                content = canonical(i, at, None, "old", "thing.do", "thing", str(i), detail)
                digest = compute_hash(prev, content)
                conn.execute(text(
                    "INSERT INTO audit_record (id, at, actor_id, actor, action, subject_type, subject_id, "
                    "detail, prev_hash, hash) VALUES (:id, :at, NULL, 'old', 'thing.do', 'thing', :sid, "
                    ":detail, :prev, :hash)"
                ), {"id": i, "at": at, "sid": str(i), "detail": detail, "prev": prev, "hash": digest})
                prev = digest
            conn.execute(text("UPDATE audit_head SET last_seq = 3, last_hash = :h"), {"h": prev})
        upgrade(eng)
        r = _verify(eng)
        assert r.ok and r.count == 3, r.problems
        with unit_of_work(eng) as s:
            audit.record(s, "new", "thing.do", "thing", 4)
        assert [(i, seq) for i, seq, _ in _chain(eng)] == [(1, 1), (2, 2), (3, 3), (4, 4)]
        assert _verify(eng).ok
        with unit_of_work(eng) as s:
            assert s.get(AuditHead, 1).last_seq == 4  # type: ignore[union-attr]
        downgrade("audit@audit_0001", eng)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_record")).scalar() == 4
        upgrade(eng)
        assert _verify(eng).count == 4
    finally:
        eng.dispose()


def test_web_server_links_in_the_background(engine: Engine) -> None:
    """While the app runs, requests only append; its background linker chains them, and what is
    left when it stops is linked at shutdown."""
    from fastapi.testclient import TestClient

    from tests.factories import api_login, make_tree, make_user
    from zhikong.auth.models import Role
    from zhikong.web.app import create_app

    with unit_of_work(engine) as s:
        tree = make_tree(s)
        make_user(s, Role.DISTRICT_COMMAND, tree.district)
    with TestClient(create_app(), base_url="https://testserver") as c:
        bg = linker._background
        assert bg is not None and bg.running
        csrf = api_login(c, "district_command-500113")
        h = {"X-CSRF-Token": csrf}
        body = {"kind": "registration", "title": "排查", "unit_id": tree.village11.id}
        task = c.post("/api/tasks", json=body, headers=h).json()
        for v in range(1, 6):
            r = c.patch(f"/api/tasks/{task['id']}", json={"version": v, "description": f"第{v}次"}, headers=h)
            assert r.status_code == 200, r.text
    assert linker._background is None
    with unit_of_work(engine) as s:
        edits = s.scalars(select(AuditRecord.seq).where(AuditRecord.action == "task.edit")).all()
    assert len(edits) == 5 and None not in edits
    r = _verify(engine)
    assert r.ok and r.pending == 0 and r.count >= 7, r.problems  # login, create, 5 edits
