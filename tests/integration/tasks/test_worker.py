"""Deadline worker: overdue tasks are escalated once, however often (and after crashes) it runs."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from tests.factories import make_tree
from zhikong.audit.models import AuditRecord
from zhikong.core.db import session_factory, unit_of_work
from zhikong.core.time import utcnow
from zhikong.tasks import service
from zhikong.tasks.models import Priority, Task, TaskEvent, TaskKind, TaskState
from zhikong.tasks.worker import run_once


def _overdue_tasks(engine: Engine, n: int) -> list[int]:
    with unit_of_work(engine) as s:
        tree = make_tree(s)
        ids = [service.create_task(s, kind=TaskKind.FEVER, unit_id=tree.village11.id, title=f"t{i}",
                                   description="", priority=Priority.URGENT, source="test", actor="test").id
               for i in range(n)]
        fresh = service.create_task(s, kind=TaskKind.FEVER, unit_id=tree.village11.id, title="fresh",
                                    description="", priority=Priority.LOW, source="test", actor="test")
        s.flush()
        s.execute(update(Task).where(Task.id.in_(ids)).values(deadline_at=utcnow() - timedelta(minutes=5)))
        assert fresh.id not in ids
    return ids


def _escalations(engine: Engine) -> tuple[int, int]:
    with unit_of_work(engine) as s:
        events = s.scalar(select(func.count()).select_from(TaskEvent).where(TaskEvent.action == "escalate"))
        audits = s.scalar(select(func.count()).select_from(AuditRecord)
                          .where(AuditRecord.action == "task.escalate"))
        return int(events or 0), int(audits or 0)


def test_escalates_once_across_restarts(engine: Engine) -> None:
    ids = _overdue_tasks(engine, 3)
    # a worker that crashes before committing leaves nothing behind
    s = session_factory(engine)()
    assert sorted(service.escalate_overdue(s)) == sorted(ids)
    s.rollback()
    s.close()
    assert _escalations(engine) == (0, 0)
    first = run_once(engine)
    second = run_once(engine)  # a restarted worker
    assert sorted(first.escalated) == sorted(ids) and second.escalated == []
    assert _escalations(engine) == (3, 3)
    with unit_of_work(engine) as s2:
        for t in s2.scalars(select(Task).where(Task.id.in_(ids))):
            assert t.state == TaskState.ESCALATED and t.escalation_count == 1 and t.escalated_at is not None


@pytest.mark.postgres
def test_two_workers_at_once(engine: Engine, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("concurrent writers: PostgreSQL")
    ids = _overdue_tasks(engine, 20)
    barrier = threading.Barrier(2)
    results: list[list[int]] = []

    def work() -> None:
        barrier.wait()
        results.append(run_once(engine).escalated)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results[0] + results[1]) == sorted(ids)
    assert _escalations(engine) == (20, 20)
