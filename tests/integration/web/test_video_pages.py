"""The video wall and the patroller's screen (TestClient, cookie login, CSRF on the finding form)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, make_tree, make_user
from zhikong.alerts.models import Alert
from zhikong.auth.models import Role
from zhikong.core.config import Settings
from zhikong.geo.models import Place, PlaceKind
from zhikong.tasks.models import Task
from zhikong.video.models import FindingKind, PatrolFinding
from zhikong.video.schemas import CameraIn
from zhikong.video.service import create_patrol_plan, record_finding, register_camera
from zhikong.web.app import create_app

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"


def _login(client: TestClient, username: str) -> str:
    r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/video")
    m = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert m is not None, page.text[:3000]
    return m.group(1)


@pytest.fixture
def setup(session: Session, settings: Settings) -> dict[str, object]:
    tree = make_tree(session)
    other = Place(code="P-21", name="三社区超市", kind=PlaceKind.SUPERMARKET, unit_id=tree.village21.id,
                  lat=29.511, lon=106.611)
    session.add(other)
    session.flush()
    for code, name, place in (("cam-1", "农贸市场东门", "P-11"), ("cam-2", "农贸市场西门", "P-11"),
                              ("cam-9", "超市入口", "P-21")):
        register_camera(session, CameraIn(code=code, name=name, stream_url=f"rtsp://127.0.0.1/{code}",
                                          place_code=place))
    latest = Path(settings.data_dir) / "video" / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    (latest / "cam-1.jpg").write_bytes(JPEG)
    make_user(session, Role.VIDEO_PATROLLER, tree.town1, name="patrol1")
    make_user(session, Role.VILLAGE_OPERATOR, tree.village21, name="v21")
    mine = create_patrol_plan(session, "市场巡查", "patrol1", ["cam-1", "cam-2"], interval_s=10)
    theirs = create_patrol_plan(session, "超市巡查", "someone", ["cam-9"], interval_s=10)
    record_finding(session, "cam-9", FindingKind.GATHERING, "someone", "门口聚集", None, theirs.id,
                   data_dir=Path(settings.data_dir))
    session.commit()
    return {"mine": mine.id, "theirs": theirs.id}


def test_wall_and_patrol_pages(setup: dict[str, object]) -> None:
    client = TestClient(create_app(), base_url="https://testserver")
    assert client.get("/video", follow_redirects=False).status_code == 303  # login first
    _login(client, "patrol1")
    wall = client.get("/video")
    assert wall.status_code == 200
    assert "cam-1" in wall.text and "cam-2" in wall.text and "cam-9" not in wall.text  # jurisdiction
    assert wall.text.count('data-live="1"') == 1  # cam-1 has a frame; cam-2 says it has none
    assert "video-noframe" in wall.text and 'href="/video"' in wall.text
    plans = client.get("/video/patrol")
    assert plans.status_code == 200 and "市场巡查" in plans.text and "超市巡查" not in plans.text
    screen = client.get(f"/video/patrol/{setup['mine']}")
    assert screen.status_code == 200
    assert 'id="finding-kind"' in screen.text and 'for="finding-kind"' in screen.text
    assert client.get(f"/video/patrol/{setup['theirs']}").status_code == 404
    assert client.get("/video/patrol/999999").status_code == 404


def test_other_unit_sees_its_alarm(setup: dict[str, object]) -> None:
    client = TestClient(create_app(), base_url="https://testserver")
    _login(client, "v21")
    wall = client.get("/video")
    assert "cam-9" in wall.text and "cam-1" not in wall.text
    assert 'data-testid="alarm-count"' in wall.text and "/alerts?show=all" in wall.text
    assert client.get(f"/video/patrol/{setup['mine']}").status_code == 404


def test_finding_post_creates_finding_and_task(setup: dict[str, object], session: Session) -> None:
    client = TestClient(create_app(), base_url="https://testserver")
    token = _login(client, "patrol1")
    url = f"/video/patrol/{setup['mine']}/findings"
    form = {"camera": "cam-1", "kind": "no_masks", "note": "收银台工作人员未戴口罩"}
    assert client.post(url, data=form, follow_redirects=False).status_code == 403  # no CSRF token
    bad = client.post(url, data={**form, "kind": "", "csrf_token": token})
    assert bad.status_code == 422 and 'id="finding-kind-error"' in bad.text
    assert 'aria-invalid="true"' in bad.text
    wrong = client.post(url, data={**form, "camera": "cam-9", "csrf_token": token})
    assert wrong.status_code == 422 and 'id="finding-camera-error"' in wrong.text
    assert session.scalar(select(PatrolFinding).where(PatrolFinding.patroller == "patrol1")) is None
    ok = client.post(url, data={**form, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and "task=" in ok.headers["location"]
    session.expire_all()
    finding = session.scalar(select(PatrolFinding).where(PatrolFinding.patroller == "patrol1"))
    assert finding is not None and finding.kind == FindingKind.NO_MASKS and finding.snapshot_path
    task_id = int(ok.headers["location"].split("task=")[1])
    task = session.get(Task, task_id)
    assert task is not None and "口罩" in task.description
    alert = session.scalar(select(Alert).where(Alert.task_id == task_id))
    assert alert is not None and alert.camera_code == "cam-1"
    shown = client.get(ok.headers["location"])
    assert 'data-testid="finding-recorded"' in shown.text and f'href="/tasks/{task_id}"' in shown.text
    # the finding's video alarm is closed at once: the wall links its task instead of an open alarm
    from zhikong.video.models import AlarmStatus, VideoAlarm

    alarm = session.get(VideoAlarm, finding.alarm_id)
    assert alarm is not None and alarm.status == AlarmStatus.CLOSED
    wall = client.get("/video")
    tile = wall.text.split('data-camera="cam-1"')[1].split("</section>")[0]
    assert 'data-testid="alarm-count"' not in tile
    assert f'href="/tasks/{task_id}"' in tile and f'data-alarm-id="{alarm.id}"' in tile


def test_alarm_closes_when_its_alert_is_confirmed_elsewhere(
    setup: dict[str, object], session: Session
) -> None:
    """An alert confirmed into a task in the alert console (not the patrol page) closes the alarm."""
    from zhikong.alerts.service import act
    from zhikong.auth.models import User
    from zhikong.video.models import AlarmStatus, VideoAlarm

    alarm = session.scalar(select(VideoAlarm).where(VideoAlarm.message.contains("门口聚集")))
    assert alarm is not None and alarm.status == AlarmStatus.OPEN and alarm.alert_id
    client = TestClient(create_app(), base_url="https://testserver")
    _login(client, "v21")
    assert 'data-testid="alarm-count"' in client.get("/video").text
    v21 = session.scalar(select(User).where(User.username == "v21"))
    assert v21 is not None
    alert = act(session, v21, alarm.alert_id, "confirm")
    session.commit()
    wall = client.get("/video")
    assert 'data-testid="alarm-count"' not in wall.text
    assert f'href="/tasks/{alert.task_id}"' in wall.text
    session.expire_all()
    assert session.get(VideoAlarm, alarm.id).status == AlarmStatus.CLOSED  # type: ignore[union-attr]


def test_patrol_plan_create_and_edit_pages(setup: dict[str, object], session: Session) -> None:
    from zhikong.video.models import PatrolPlan
    from zhikong.video.service import patrol_cameras
    from zhikong.web.i18n import COOKIE

    client = TestClient(create_app(), base_url="https://testserver")
    token = _login(client, "patrol1")
    new = client.get("/video/patrol/new")
    assert new.status_code == 200 and 'id="plan-form"' in new.text
    assert 'value="cam-1"' in new.text and 'value="cam-9"' not in new.text  # jurisdiction
    assert "新建巡查计划" in new.text and "按巡查顺序" in new.text  # zh_CN by default
    form = {"name": "早班巡查", "patroller": "patrol1", "interval_s": "15", "cameras": ["cam-2", "cam-1"]}
    assert client.post("/video/patrol/new", data=form, follow_redirects=False).status_code == 403  # CSRF
    bad = client.post("/video/patrol/new", data={**form, "interval_s": "2", "csrf_token": token})
    assert bad.status_code == 422 and 'id="plan-interval-error"' in bad.text
    foreign = client.post("/video/patrol/new", data={**form, "cameras": ["cam-9"], "csrf_token": token})
    assert foreign.status_code == 422 and 'id="plan-cameras-error"' in foreign.text
    none = client.post("/video/patrol/new", data={**form, "cameras": [], "csrf_token": token})
    assert none.status_code == 422 and 'id="plan-cameras-error"' in none.text
    assert session.scalar(select(PatrolPlan).where(PatrolPlan.name == "早班巡查")) is None
    ok = client.post("/video/patrol/new", data={**form, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303
    session.expire_all()
    plan = session.scalar(select(PatrolPlan).where(PatrolPlan.name == "早班巡查"))
    assert plan is not None and patrol_cameras(plan) == ["cam-2", "cam-1"] and plan.interval_s == 15
    listing = client.get(ok.headers["location"])
    assert 'data-testid="plan-saved"' in listing.text
    assert f'href="/video/patrol/{plan.id}/edit"' in listing.text
    # edit: one camera, longer interval, then stop the plan (it stays editable, not runnable)
    edit = client.get(f"/video/patrol/{plan.id}/edit")
    assert edit.status_code == 200 and 'value="早班巡查"' in edit.text
    changed = {"name": "早班巡查", "patroller": "patrol1", "interval_s": "30", "cameras": ["cam-1"],
               "active": "1", "csrf_token": token}
    edit_url = f"/video/patrol/{plan.id}/edit"
    assert client.post(edit_url, data=changed, follow_redirects=False).status_code == 303
    stopped = {k: v for k, v in changed.items() if k != "active"}
    assert client.post(edit_url, data=stopped, follow_redirects=False).status_code == 303
    session.expire_all()
    plan = session.get(PatrolPlan, plan.id)
    assert plan is not None and patrol_cameras(plan) == ["cam-1"]
    assert plan.interval_s == 30 and not plan.active
    assert client.get(f"/video/patrol/{plan.id}").status_code == 404  # stopped: not on patrol
    # another unit's plan is not editable
    assert client.get(f"/video/patrol/{setup['theirs']}/edit").status_code == 404
    theirs = client.post(f"/video/patrol/{setup['theirs']}/edit", data=changed, follow_redirects=False)
    assert theirs.status_code == 404
    client.cookies.set(COOKIE, "en")
    page_en = client.get("/video/patrol/new")
    assert page_en.status_code == 200 and "New patrol plan" in page_en.text
