"""The HTTP surface: registration by QR, personal link, dashboard, files, and the cross-enterprise leak
test for every route under /enterprise and /api/enterprise."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.auth.service import create_api_token
from zhikong.enterprise import service
from zhikong.enterprise.models import Employee
from zhikong.enterprise.router import router as enterprise_router
from zhikong.web.app import create_app

from .conftest import PHONES, World


@pytest.fixture
def client(session: Session, world: World) -> TestClient:
    return TestClient(create_app(), follow_redirects=False)


def _token(session: Session, user: Any) -> dict[str, str]:
    _, plain = create_api_token(session, user, "t")
    session.commit()
    return {"Authorization": f"Bearer {plain}"}


def _form(world: World, i: int, **over: str) -> dict[str, str]:
    data = {"name": f"员工{i}", "id_number": world.ids[i], "phone": PHONES[i], "consent": "yes"}
    data.update(over)
    return data


def test_register_by_qr_and_personal_link(client: TestClient, session: Session, world: World) -> None:
    url = f"/enterprise/r/{service.qr_token(world.ent_a.id)}"
    page = client.get(url)
    assert page.status_code == 200 and "甲公司" in page.text and service.CONSENT_VERSION in page.text
    bad = client.post(url, data=_form(world, 0, id_number="123", phone="", consent=""))
    assert bad.status_code == 422
    assert 'id="id-err"' in bad.text and 'id="phone-err"' in bad.text and 'id="consent-err"' in bad.text
    ok = client.post(url, data=_form(world, 0))
    assert ok.status_code == 303 and ok.headers["location"].startswith("/enterprise/me/")
    me = client.get(ok.headers["location"])
    assert me.status_code == 200 and "绿色" in me.text and "员工0" in me.text
    again = client.post(url, data=_form(world, 0))  # double submit
    assert again.status_code == 303 and "again=1" in again.headers["location"]
    other_phone = client.post(url, data=_form(world, 0, phone="13900139000"))
    assert other_phone.status_code == 409 and "已在本企业登记" in other_phone.text
    assert session.scalar(select(func.count()).select_from(Employee)) == 1
    assert client.get("/enterprise/me/not-a-link").status_code == 404


def test_pages_in_english(client: TestClient, session: Session, world: World) -> None:
    client.cookies.set("zhikong_lang", "en")
    url = f"/enterprise/r/{service.qr_token(world.ent_a.id)}"
    page = client.get(url)
    assert page.status_code == 200 and 'lang="en"' in page.text
    assert "Employee epidemic risk self-check" in page.text and "ID number" in page.text
    assert "I agree that this enterprise" in page.text and "我同意" not in page.text
    bad = client.post(url, data=_form(world, 0, id_number="", consent=""))
    assert bad.status_code == 422 and "ID number is empty" in bad.text and "身份证号为空" not in bad.text
    ok = client.post(url, data=_form(world, 0))
    me = client.get(ok.headers["location"])
    assert me.status_code == 200 and "Risk level:" in me.text and "Green" in me.text
    assert "绿色" not in me.text
    forged = client.get("/enterprise/r/forged")
    assert forged.status_code == 400 and "not valid" in forged.text and "二维码" not in forged.text
    h = _token(session, world.admin_a)
    dash = client.get(f"/enterprise/{world.ent_a.id}", headers=h)
    assert dash.status_code == 200 and "Employees (red and yellow first)" in dash.text
    client.cookies.set("zhikong_lang", "zh_CN")
    assert "员工（红、黄在前）" in client.get(f"/enterprise/{world.ent_a.id}", headers=h).text


def test_forged_and_expired_codes(client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    forged = client.get("/enterprise/r/eyJlIjoxfQ.forged.signature")
    assert forged.status_code == 400 and "二维码无效" in forged.text
    tok = service.qr_token(world.ent_a.id)
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + 31 * 86400)
    expired = client.post(f"/enterprise/r/{tok}", data=_form(world, 0))
    assert expired.status_code == 400 and "已过期" in expired.text


def test_dashboard_files_and_town(client: TestClient, session: Session, world: World) -> None:
    reg = service.validate_registration("员工1", world.ids[1], PHONES[1], True)
    service.register_employee(session, world.ent_a, reg)
    session.commit()
    h = _token(session, world.admin_a)
    s = client.get(f"/api/enterprise/{world.ent_a.id}/summary", headers=h).json()
    assert s["counts"]["green"] == 1 and s["total"] == 1
    emps = client.get(f"/api/enterprise/{world.ent_a.id}/employees", headers=h).json()
    assert set(emps[0]) == {"id", "name", "id_number", "phone", "level", "reasons", "reason_labels",
                            "registered_at", "level_changed_at"}
    assert "*" in emps[0]["id_number"]
    png = client.get(f"/api/enterprise/{world.ent_a.id}/poster.png", headers=h)
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = client.get(f"/api/enterprise/{world.ent_a.id}/poster.pdf", headers=h)
    assert pdf.content[:5] == b"%PDF-" and b"STSong-Light" in pdf.content
    xlsx = client.get(f"/api/enterprise/{world.ent_a.id}/export.xlsx", headers=h)
    assert xlsx.content[:2] == b"PK"
    page = client.get(f"/enterprise/{world.ent_a.id}", headers=h)
    assert page.status_code == 200 and "员工1" in page.text
    t = _token(session, world.town_user)
    view = client.get(f"/api/enterprise/town/{world.town.id}", headers=t).json()
    assert view["enterprises"][0]["counts"]["green"] == 1


def _fill(path: str, world: World) -> str:
    return (path.replace("{enterprise_id}", str(world.ent_a.id))
            .replace("{town_id}", str(world.town.id)))


def test_no_cross_enterprise_leak_on_any_route(client: TestClient, session: Session,
                                               world: World) -> None:
    """Admin B asks for everything of enterprise A (and A's town): every route answers 403/404 and no
    response carries A's employee. Every route under the prefixes must be classified here."""
    reg = service.validate_registration("甲员工秘密", world.ids[0], PHONES[0], True)
    link = service.register_employee(session, world.ent_a, reg).link_token
    session.commit()
    hb = _token(session, world.admin_b)
    # the app mounts the domain router as is (no prefix); its routes are the app's enterprise routes
    routes = [r for r in enterprise_router.routes
              if isinstance(r, APIRoute) and re.match(r"^/(api/)?enterprise(/|$)", r.path)]
    assert len(routes) == len(enterprise_router.routes)
    public = {"/enterprise/r/{token}", "/enterprise/me/{link}"}
    collection = {"/enterprise", "/api/enterprise", "/api/enterprise/recompute"}
    checked = 0
    for route in routes:
        for method in route.methods - {"HEAD"}:
            path = _fill(route.path, world)
            if route.path in public:
                continue
            kwargs: dict[str, Any] = {"headers": hb}
            if method == "POST" and route.path.endswith("/roster"):
                kwargs["files"] = {"file": ("r.csv", "姓名,身份证号\n".encode(), "text/csv")}
            elif method == "POST" and route.path == "/api/enterprise":
                kwargs["json"] = {"name": "冒名", "town_code": world.town.code}
            resp = client.request(method, path, **kwargs)
            assert "甲员工秘密" not in resp.text, (method, route.path)
            if route.path in collection:
                if method == "GET":
                    assert "甲公司" not in resp.text, route.path
                else:
                    assert resp.status_code == 403, (method, route.path, resp.status_code)
            else:
                assert "{" in route.path, f"unclassified route {route.path}"
                assert resp.status_code in (403, 404), (method, route.path, resp.status_code)
            checked += 1
    assert checked >= 11
    # the personal link shows its own employee only; a QR code of A registers into A only
    assert link is not None
    me = client.get(f"/enterprise/me/{link}")
    assert "甲员工秘密" in me.text and "乙公司" not in me.text
    assert service.notifications(session, world.ent_b.id, service.Audience.ENTERPRISE) == []
