"""Dispatch meetings: schedule by tier and unit, the room link, attendance, minutes, decisions → tasks."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_tree, make_user
from zhikong.auth.models import Role
from zhikong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from zhikong.core.time import CHINA_TZ
from zhikong.reporting import meetings
from zhikong.tasks.models import Task, TaskKind


def test_meeting_flow(session: Session) -> None:
    tree = make_tree(session)
    cmd = make_user(session, Role.DISTRICT_COMMAND, tree.district)
    town = make_user(session, Role.TOWN_OPERATOR, tree.town1)
    at = datetime(2026, 11, 28, 9, 0, tzinfo=CHINA_TZ)
    with pytest.raises(PermissionDenied):
        meetings.schedule(session, town, title="调度会", starts_at=at, tiers=["town"])
    with pytest.raises(InvalidInput):
        meetings.schedule(session, cmd, title="调度会", starts_at=at)
    m = meetings.schedule(
        session,
        cmd,
        title="全区疫情防控视频调度会",
        starts_at=at,
        agenda="一、通报疫情",
        tiers=["town"],
        unit_ids=[tree.village11.id],
    )
    assert m.video_url == f"https://meet.jit.si/zhikong-{m.room}"
    assert meetings.attendance(session, m.id) == (0, 3)
    meetings.confirm(session, town, m.id, tree.town1.id)
    meetings.confirm(session, town, m.id, tree.village11.id)  # a town confirms for its village
    with pytest.raises(PermissionDenied):
        meetings.confirm(session, town, m.id, tree.town2.id)
    with pytest.raises(NotFound):
        meetings.confirm(session, town, m.id, tree.village12.id)  # not invited
    assert meetings.attendance(session, m.id) == (2, 3)
    meetings.record_minutes(session, cmd, m.id, "会议听取各镇街汇报……")
    d = meetings.decide(
        session, cmd, m.id, "各镇街今日完成返乡人员全覆盖排查", [tree.town1.id, tree.town2.id]
    )
    tasks = list(session.scalars(select(Task).where(Task.id.in_(d.task_ids))))
    assert {t.unit_id for t in tasks} == {tree.town1.id, tree.town2.id}
    assert {t.kind for t in tasks} == {TaskKind.MEETING_DECISION} and {t.batch_id for t in tasks} == {
        d.batch_id
    }
    assert all(f"会议编号 {m.id}" in t.description for t in tasks)
    with pytest.raises(Conflict):
        meetings.decide(session, cmd, m.id, "各镇街今日完成返乡人员全覆盖排查", [tree.town1.id])
