"""The HTML pages: dashboard, point, check form, public self-report page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.integration.facilities.conftest import World
from zhikong.auth.models import Role
from zhikong.auth.service import create_api_token, create_user
from zhikong.facilities import followup, service
from zhikong.facilities.models import Measure
from zhikong.web.app import create_app

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_pages(world: World) -> None:
    s = world.session
    boss = create_user(
        s,
        username="cmd",
        password="password-123",
        role=Role.DISTRICT_COMMAND,
        unit_id=world.points[0].unit_id,
    )
    _, tok = create_api_token(s, boss, "t")
    fu, _ = service.admit(s, "test", world.persons[0].id, facility_id=world.points[0].id)
    home = service.start_followup(s, "test", world.persons[1].id, Measure.HOME)
    s.commit()
    client = TestClient(create_app())
    assert client.get("/facilities", follow_redirects=False).status_code == 303  # login first
    h = {"Authorization": f"Bearer {tok}"}
    r = client.get("/facilities", headers=h, params={"near": "500113001"})
    assert r.status_code == 200 and world.points[0].name in r.text
    assert 'data-testid="free-bed"' in r.text
    r = client.get(f"/facilities/{world.points[0].id}", headers=h)
    assert r.status_code == 200 and world.persons[0].name in r.text
    bad = client.post(f"/facilities/checks/{fu.id}", headers=h, data={"temperature": "hot"})
    assert bad.status_code == 400 and "field-error" in bad.text
    ok = client.post(
        f"/facilities/checks/{fu.id}", headers=h, data={"temperature": "38.2", "symptoms": "cough"}
    )
    assert ok.status_code == 200 and "异常，已告警" in ok.text and "咳嗽" in ok.text
    token = followup.self_report_token(home)
    page = client.get(f"/r/{token}")
    assert page.status_code == 200 and 'name="temperature"' in page.text and "每日健康自报" in page.text
    client.cookies.set("zhikong_lang", "en")
    en = client.get(f"/r/{token}")
    assert "Daily self-report" in en.text and "Cough" in en.text and 'lang="en"' in en.text
    assert "每日" not in en.text
    client.cookies.delete("zhikong_lang")
    sent = client.post(f"/r/{token}", data={"temperature": "36.5"})
    assert sent.status_code == 200 and 'data-testid="check-done"' in sent.text
    absurd = client.post(f"/r/{token}", data={"temperature": "12"})
    assert absurd.status_code == 422 and "field-error" in absurd.text
    assert client.get("/r/not-a-token").status_code == 403
