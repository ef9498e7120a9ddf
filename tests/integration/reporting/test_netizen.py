"""Netizen reports: public submission (photos, duplicates), 50 concurrent submitters with the rate limit,
12345 CSV import, triage into a task, the published answer seen with the follow-up code."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, Tree, make_tree, make_user
from zhikong.auth.models import Role
from zhikong.core.db import unit_of_work
from zhikong.core.errors import Conflict, InvalidInput, RowErrors
from zhikong.reporting import netizen
from zhikong.reporting.models import NetizenPhoto, NetizenReport, NetizenStatus
from zhikong.tasks.models import Task, TaskKind
from zhikong.web.app import create_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _solve(html: str) -> dict[str, str]:
    q = re.search(r"(\d+) \+ (\d+) = \?", html)
    token = re.search(r'name="challenge_token" value="([^"]+)"', html)
    assert q and token
    return {"challenge": str(int(q.group(1)) + int(q.group(2))), "challenge_token": token.group(1)}


def test_service_rules(session: Session) -> None:
    tree = make_tree(session)
    with pytest.raises(InvalidInput) as e:
        netizen.submit(session, text="hi", address="一村")
    assert e.value.field == "text"
    with pytest.raises(InvalidInput) as e:
        netizen.submit(session, text="有人聚集打牌未戴口罩")
    assert e.value.field == "address"
    with pytest.raises(InvalidInput, match="JPEG or PNG"):
        netizen.submit(session, text="有人聚集打牌未戴口罩", address="一村", photos=[b"GIF89a" + b"\0" * 10])
    assert session.scalar(select(func.count(NetizenReport.id))) == 0
    r = netizen.submit(session, text="有人聚集打牌未戴口罩", address="甲镇一村三组", photos=[PNG])
    assert r.unit_id == tree.village11.id and len(r.code) == 10 and r.status == NetizenStatus.NEW
    with pytest.raises(Conflict):
        netizen.submit(session, text="  有人聚集打牌未戴口罩\n", address="甲镇一村三组 ")
    csv_ok = "工单编号,受理时间,诉求内容,地址\nH001,2026-11-20 09:30,二村有外地返乡人员未报备,甲镇二村\n"
    rows = netizen.import_hotline_csv(session, csv_ok.encode("gb18030"), "12345.csv")
    assert rows[0].source == "hotline" and rows[0].unit_id == tree.village12.id
    bad = (
        csv_ok.replace("H001", "H002")
        + "H001,2026-11-20 10:00,重复的工单号内容,乙街道\nH003,昨天,某处聚集情况,乙街道\n"
    )
    with pytest.raises(RowErrors) as re_:
        netizen.import_hotline_csv(session, bad.encode(), "12345.csv")
    assert {x.row for x in re_.value.errors} == {2, 3, 4}
    assert session.scalar(select(func.count(NetizenReport.id))) == 2
    with pytest.raises(InvalidInput, match="missing column"):
        netizen.import_hotline_csv(session, b"a,b\n1,2\n", "x.csv")
    admin = make_user(session, Role.DISTRICT_COMMAND, tree.district)
    town = make_user(session, Role.TOWN_OPERATOR, tree.town1)
    with pytest.raises(Exception, match="district"):
        netizen.triage(session, town, r.id)
    netizen.triage(session, admin, r.id, place_code="P-11")
    task = session.get(Task, r.task_id)
    assert task is not None and task.kind == TaskKind.CITIZEN_REPORT and task.unit_id == tree.village11.id
    with pytest.raises(Conflict):
        netizen.triage(session, admin, r.id)
    netizen.answer(session, admin, r.id, "已核实并劝散，谢谢监督")
    seen = netizen.status_by_code(session, r.code.lower())
    assert seen.status == NetizenStatus.ANSWERED and seen.answer == "已核实并劝散，谢谢监督"
    assert session.scalar(select(func.count(NetizenPhoto.id))) == 1


@pytest.fixture
def app_tree(engine: Engine) -> Iterator[Tree]:
    with unit_of_work(engine) as s:
        t = make_tree(s)
        make_user(s, Role.DISTRICT_COMMAND, t.district)
    yield t


def _server(app: object) -> Iterator[str]:
    import socket
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_public_page_concurrent_and_rate_limited(engine: Engine, app_tree: Tree) -> None:
    import httpx

    limit = netizen.RATE_LIMIT
    server = _server(create_app())
    base = next(server)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def submitter(i: int) -> None:
        # 10 source addresses on loopback (127.0.0.10-19), 5 submitters each = the limit per address
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{10 + i % 10}")
        with httpx.Client(base_url=base, transport=transport, timeout=60) as c:
            form = c.get("/report")
            start.wait()
            r = c.post(
                "/report",
                data={"text": f"第{i}号举报：小区门口有人聚集", "address": "甲镇一村", **_solve(form.text)},
                files=[("photos", ("p.png", PNG + bytes([i]), "image/png"))],
            )
            code = re.search(r'id="follow-code">(\w+)<', r.text)
            with lock:
                results.append((r.status_code, code.group(1) if code else r.text[-300:]))

    try:
        threads = [threading.Thread(target=submitter, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [s for s, _ in results].count(201) == 50, results
        with unit_of_work(engine) as s:
            assert s.scalar(select(func.count(NetizenReport.id))) == 50
            assert set(s.scalars(select(NetizenReport.code))) == {c for _, c in results}
            assert s.scalar(select(func.count(NetizenPhoto.id))) == 50
        # address 127.0.0.10 has used its limit: the next one is refused (429) and nothing is stored
        with httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address="127.0.0.10")) as c:
            form = c.get("/report")
            r = c.post("/report", data={"text": "刷屏测试内容", "address": "甲镇一村", **_solve(form.text)})
            assert r.status_code == 429
        # a burst of limit + 3 from a fresh address: exactly the limit accepted
        statuses = []
        with httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address="127.0.0.99")) as c:
            for i in range(limit + 3):
                form = c.get("/report")
                r = c.post(
                    "/report",
                    data={"text": f"刷屏测试第{i}条内容", "address": "甲镇一村", **_solve(form.text)},
                )
                statuses.append(r.status_code)
            assert statuses == [201] * limit + [429] * 3
        with httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address="127.0.0.98")) as c:
            form = c.get("/report")
            r = c.post(
                "/report",
                data={
                    "text": "又一条举报内容",
                    "address": "甲镇一村",
                    "challenge": "99",
                    "challenge_token": _solve(form.text)["challenge_token"],
                },
            )
            assert r.status_code == 422 and "算术题答案错误" in r.text
            form = c.get("/report")
            r = c.post(
                "/report",
                data={"text": "又一条举报内容", "address": "甲镇一村", **_solve(form.text)},
                files=[("photos", ("x.png", b"%PDF-1.4 not an image", "image/png"))],
            )
            assert r.status_code == 422 and "JPEG or PNG" in r.text
        with unit_of_work(engine) as s:
            assert s.scalar(select(func.count(NetizenReport.id))) == 50 + limit
    finally:
        next(server, None)


def test_triage_page_and_status(engine: Engine, app_tree: Tree) -> None:
    app = create_app()
    with TestClient(app, base_url="https://testserver") as c:
        form = c.get("/report")
        r = c.post("/report", data={"text": "市场内有人发热仍在营业", "address": "某地", **_solve(form.text)})
        code = re.search(r'id="follow-code">(\w+)<', r.text)
        assert r.status_code == 201 and code
        assert c.get("/netizen").status_code in (200, 303)  # anonymous → login
        login = c.post("/api/auth/login", json={"username": "district_command-500113", "password": PASSWORD})
        csrf = login.json()["csrf_token"]
        with unit_of_work(engine) as s:
            rid = s.scalar(select(NetizenReport.id))
        assert "市场内有人发热" in c.get("/netizen").text
        r = c.post(f"/netizen/{rid}", data={"csrf_token": csrf, "action": "triage"})
        assert r.status_code == 422 and "choose the unit" in r.text  # the address matched no unit
        r = c.post(
            f"/netizen/{rid}",
            data={"csrf_token": csrf, "action": "triage", "unit_code": app_tree.town2.code},
            follow_redirects=False,
        )
        assert r.status_code == 303
        c.post(f"/netizen/{rid}", data={"csrf_token": csrf, "action": "answer", "answer": "已责令停业整改"})
        page = c.get("/report/status", params={"code": code.group(1)})
        assert "已责令停业整改" in page.text and "answered" in page.text
        assert c.get("/report/status", params={"code": "NOPE"}).status_code == 404
