"""The audit chain detects edited, deleted, inserted and reordered records."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, text, update
from typer.testing import CliRunner

from zhikong import audit
from zhikong.audit.models import AuditHead, AuditRecord
from zhikong.core.db import unit_of_work


def _fill(engine: Engine, n: int = 6) -> None:
    with unit_of_work(engine) as s:
        for i in range(n):
            audit.record(s, "tester", "thing.do", "thing", i, {"i": i, "note": "审计"})
        audit.record_pii_read(s, "tester", 42, "id_number", reason="核查")


def _verify(engine: Engine) -> audit.VerifyResult:
    with unit_of_work(engine) as s:
        return audit.verify(s)


def test_intact_chain(engine: Engine) -> None:
    _fill(engine)
    r = _verify(engine)
    assert r.ok and r.count == 7, r.problems
    with unit_of_work(engine) as s:
        pii = s.scalars(select(AuditRecord).where(AuditRecord.action == "person.read_pii")).one()
        assert pii.subject_id == "42" and "id_number" in pii.detail


def test_edited_record(engine: Engine) -> None:
    _fill(engine)
    with unit_of_work(engine) as s:
        s.execute(update(AuditRecord).where(AuditRecord.id == 3).values(detail='{"i":99}'))
    r = _verify(engine)
    assert not r.ok and any("record 3" in p and "edited" in p for p in r.problems)


def test_deleted_record(engine: Engine) -> None:
    _fill(engine)
    with unit_of_work(engine) as s:
        s.execute(delete(AuditRecord).where(AuditRecord.id == 4))
    r = _verify(engine)
    assert not r.ok and any("missing" in p for p in r.problems)


def test_deleted_tail(engine: Engine) -> None:
    _fill(engine)
    with unit_of_work(engine) as s:
        s.execute(delete(AuditRecord).where(AuditRecord.id == 7))
    assert not _verify(engine).ok


def test_reordered_records(engine: Engine) -> None:
    _fill(engine)
    with unit_of_work(engine) as s:
        r2 = s.get(AuditRecord, 2)
        r5 = s.get(AuditRecord, 5)
        assert r2 is not None and r5 is not None
        a = (r2.at, r2.action, r2.subject_id, r2.detail, r2.hash)
        b = (r5.at, r5.action, r5.subject_id, r5.detail, r5.hash)
        s.execute(update(AuditRecord).where(AuditRecord.id == 2).values(
            at=b[0], action=b[1], subject_id=b[2], detail=b[3], hash=b[4]))
        s.execute(update(AuditRecord).where(AuditRecord.id == 5).values(
            at=a[0], action=a[1], subject_id=a[2], detail=a[3], hash=a[4]))
    assert not _verify(engine).ok


def test_rehash_without_secret_is_detected(engine: Engine) -> None:
    """Recomputing a plain SHA-256 chain after an edit does not help: the hash is keyed."""
    import hashlib

    from zhikong.audit.service import canonical

    _fill(engine)
    with unit_of_work(engine) as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        prev = rows[0].prev_hash
        for r in rows:
            if r.id == 2:
                r.detail = '{"i":1000}'
            content = canonical(r.id, r.at, r.actor_id, r.actor, r.action, r.subject_type, r.subject_id,
                                r.detail)
            r.prev_hash = prev
            r.hash = hashlib.sha256((prev + "\n" + content).encode()).hexdigest()
            prev = r.hash
        s.flush()
        s.execute(update(AuditHead).values(last_hash=prev))
    assert not _verify(engine).ok


def test_cli_verify(engine: Engine) -> None:
    from zhikong.cli import app

    _fill(engine)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    with unit_of_work(engine) as s:
        s.execute(text("UPDATE audit_record SET actor = 'mallory' WHERE id = 2"))
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1 and "record 2" in bad.output


def _rewrite_with_secret(engine: Engine, seq: int) -> None:
    """What an insider holding the secret and write access could do: edit and rebuild the chain."""
    from zhikong.audit.service import canonical, compute_hash

    with unit_of_work(engine) as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        prev = rows[0].prev_hash
        for r in rows:
            if r.id == seq:
                r.detail = '{"i":1000}'
            content = canonical(r.id, r.at, r.actor_id, r.actor, r.action, r.subject_type, r.subject_id,
                                r.detail)
            r.prev_hash = prev
            r.hash = compute_hash(prev, content)
            prev = r.hash
            s.flush()
        s.execute(update(AuditHead).values(last_hash=prev))


def test_anchor_catches_a_rebuild_with_the_secret(engine: Engine, tmp_path: Path) -> None:
    from zhikong.cli import app

    _fill(engine)
    runner = CliRunner()
    anchors = tmp_path / "off-host" / "anchors.jsonl"
    out = runner.invoke(app, ["audit", "anchor", "--out", str(anchors)])
    assert out.exit_code == 0 and "record 7" in out.output, out.output
    _fill(engine, 2)  # more records after the anchor
    out = runner.invoke(app, ["audit", "anchor", "--out", str(anchors)])
    assert out.exit_code == 0 and len(anchors.read_text().splitlines()) == 2
    ok = runner.invoke(app, ["audit", "verify", "--anchors", str(anchors)])
    assert ok.exit_code == 0 and "2 anchors match" in ok.output, ok.output
    _rewrite_with_secret(engine, 3)
    assert _verify(engine).ok  # the keyed chain alone cannot see it ...
    bad = runner.invoke(app, ["audit", "verify", "--anchors", str(anchors)])
    said = " ".join(bad.output.split())
    assert bad.exit_code == 1 and "record 7 no longer has the anchored hash" in said, said
    assert "record 10 no longer" in said


def test_anchor_file_errors_name_the_line(engine: Engine, tmp_path: Path) -> None:
    from zhikong.cli import app

    _fill(engine)
    path = tmp_path / "anchors.jsonl"
    path.write_text('{"seq": 3, "hash": "ab"}\n', encoding="utf-8")
    out = CliRunner().invoke(app, ["audit", "verify", "--anchors", str(path)])
    assert out.exit_code != 0
    assert "anchors.jsonl, line 1" in str(out.exception) + out.output
    out = CliRunner().invoke(app, ["audit", "verify", "--anchors", str(tmp_path / "none.jsonl")])
    assert out.exit_code != 0 and "cannot read anchor file" in str(out.exception) + out.output


@pytest.mark.postgres
def test_concurrent_writers_keep_one_chain(engine: Engine, db_url: str) -> None:
    import threading

    if not db_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")

    def work(k: int) -> None:
        for i in range(10):
            with unit_of_work(engine) as s:
                audit.record(s, f"w{k}", "thing.do", "thing", i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = _verify(engine)
    assert r.ok and r.count == 40, r.problems
