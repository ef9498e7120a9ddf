"""A live zhikong server for browser tests and benchmarks: a temp SQLite database with a district,
users for the main roles, served by uvicorn in a thread on a free loopback port."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "Demo-pass-2020!"


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    #: role name -> (username, unit code, unit name)
    logins: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(banan: bool) -> dict[str, Any]:
    """Create the schema, the district and one user per main role; return what the tests need."""
    from sqlalchemy import select

    from zhikong.auth import service as auth_service
    from zhikong.auth.models import Role
    from zhikong.core import migrate
    from zhikong.core.db import get_engine, unit_of_work
    from zhikong.geo.models import AdminUnit, UnitLevel

    migrate.upgrade()
    info: dict[str, Any] = {"logins": {}}
    with unit_of_work(get_engine()) as session:
        if banan:
            from zhikong.geo import service as geo_service
            from zhikong.geo.places import demo_places, import_places

            geo_service.load_builtin(session, "500113")
            import_places(session, demo_places(geo_service.builtin_definition("500113")), file="demo places")
        else:
            from tests.integration.web import small_district

            small_district.build(session)
        district = session.scalars(select(AdminUnit).where(AdminUnit.level == UnitLevel.DISTRICT)).first()
        town = session.scalars(
            select(AdminUnit).where(AdminUnit.level == UnitLevel.TOWN).order_by(AdminUnit.code)
        ).first()
        assert district is not None and town is not None
        village = session.scalars(
            select(AdminUnit).where(AdminUnit.parent_id == town.id).order_by(AdminUnit.code.desc())
        ).first()
        assert village is not None
        for role, unit, username in [
            (Role.DISTRICT_COMMAND, district, "e2e_district"),
            (Role.TOWN_OPERATOR, town, "e2e_town"),
            (Role.VILLAGE_OPERATOR, village, "e2e_village"),
        ]:
            auth_service.create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                unit_id=unit.id,
                display_name=username,
            )
            info["logins"][role.value] = (username, unit.code, unit.name)
        _seed_work(session, info, village, town)
        _seed_video(session, info, village, town)
        info["village_count"] = len(
            session.scalars(select(AdminUnit.id).where(AdminUnit.level == UnitLevel.VILLAGE)).all()
        )
    return info


def _seed_work(session: Any, info: dict[str, Any], village: Any, town: Any) -> None:
    """A task for the village, one for a unit outside it, and a few people in the village's ledger."""
    from datetime import date

    from sqlalchemy import select

    from zhikong.core.crypto import get_cipher, mask_middle
    from zhikong.geo.models import AdminUnit
    from zhikong.people.models import Person
    from zhikong.tasks.service import create_task

    other = session.scalars(
        select(AdminUnit)
        .where(AdminUnit.parent_id.is_not(None), ~AdminUnit.path.startswith(town.path))
        .order_by(AdminUnit.code)
    ).first()
    mine = create_task(
        session,
        kind="registration",
        unit_id=village.id,
        title="E2E 排查登记 村内任务",
        description="核查返乡人员登记情况",
        priority="normal",
        source="e2e",
        actor="e2e",
    )
    theirs = create_task(
        session,
        kind="registration",
        unit_id=other.id,
        title="E2E 其他镇街的任务",
        description="不应被看到",
        priority="high",
        source="e2e",
        actor="e2e",
    )
    cipher = get_cipher()
    people = []
    for i, (name, idn, phone) in enumerate(
        [("张三", "500113199001011234", "+8613800138000"), ("李四", "50011319851212002X", "+8613900139001")]
    ):
        p = Person(
            name=name,
            sex="male" if i == 0 else "female",
            birth_date=date(1990 - 5 * i, 1, 1),
            id_number_enc=cipher.encrypt(idn),
            id_number_hash=cipher.keyed_hash(idn),
            id_number_masked=mask_middle(idn, 6, 4),
            phone_enc=cipher.encrypt(phone),
            phone_hash=cipher.keyed_hash(phone),
            phone_masked=mask_middle(phone, 6, 4),
            village_id=village.id,
            address=f"{village.name}{i + 1}号",
        )
        session.add(p)
        people.append(p)
    session.flush()
    case_id = _seed_tracing(session, people, village)
    _seed_lake(people[0], village)
    info.update(case_id=case_id, contact_person_id=people[1].id)
    info.update(
        task_id=mine.id,
        other_task_id=theirs.id,
        person_id=people[0].id,
        village_id=village.id,
        other_unit_id=other.id,
    )


def _seed_lake(person: Any, village: Any) -> None:
    """Two days of the first person's records in the lake: cell stays, a venue scan, a camera
    sighting and a short GPS track near the village (for the person page's trajectory map)."""
    from datetime import timedelta

    from tests.unit.tracing.scenario import gps_track, pings, write_ref, write_source
    from zhikong.core.config import get_settings
    from zhikong.core.time import CHINA_TZ, utcnow

    lake = get_settings().resolved_lake_dir
    lat, lon = float(village.lat), float(village.lon)
    write_ref(lake, "tower", [{"tower_id": "TW-A", "lat": lat, "lon": lon},
                              {"tower_id": "TW-B", "lat": lat + 0.01, "lon": lon + 0.012}])
    write_ref(lake, "venue", [{"venue_id": "VN-1", "name": "E2E 农贸市场", "kind": "market",
                               "lat": lat + 0.006, "lon": lon - 0.004}])
    write_ref(lake, "camera", [{"camera_id": "CAM-E2E", "place_code": "",
                                "lat": lat - 0.005, "lon": lon + 0.006}])
    day = (utcnow() - timedelta(days=2)).astimezone(CHINA_TZ)
    day = day.replace(hour=8, minute=0, second=0, microsecond=0)
    phone, idn = person.phone_hash, person.id_number_hash
    write_source(lake, "cell",
                 pings(phone, "TW-A", day, 60) + pings(phone, "TW-B", day + timedelta(hours=2), 30))
    write_source(lake, "venue_scan", [{"venue_id": "VN-1", "ts": day + timedelta(hours=3), "pid": idn}])
    write_source(lake, "camera", [{"camera_id": "CAM-E2E", "ts": day + timedelta(hours=4), "pid": idn,
                                   "score": 0.93}])
    track = gps_track(phone, day + timedelta(hours=5), 30, 0.0, 0.0)
    for i, row in enumerate(track):
        row.update(lat=lat - 0.002 * i, lon=lon - 0.003 * i)
    write_source(lake, "gps", track)


def _first_frame() -> bytes:
    """A JPEG of the first frame of the shared footage (CC BY, see its ATTRIBUTION.md), else a plain one."""
    import cv2
    import numpy as np

    video = Path("/work/shared/data/video/one-by-one-person-detection.mp4")
    frame = None
    if video.is_file():
        cap = cv2.VideoCapture(str(video))
        ok, img = cap.read()
        cap.release()
        frame = img if ok else None
    if frame is None:
        frame = np.full((360, 640, 3), 90, np.uint8)
    ok, buf = cv2.imencode(".jpg", frame)
    assert ok
    return bytes(buf.tobytes())


def _seed_video(session: Any, info: dict[str, Any], village: Any, town: Any) -> None:
    """Two cameras in the village (one with a latest frame), a patroller of the town and a patrol plan."""
    from zhikong.auth import service as auth_service
    from zhikong.auth.models import Role
    from zhikong.core.config import get_settings
    from zhikong.video.schemas import CameraIn
    from zhikong.video.service import create_patrol_plan, register_camera

    for code, name in (("e2e-cam-1", "村口卡点"), ("e2e-cam-2", "农贸市场")):
        register_camera(session, CameraIn(code=code, name=name, stream_url=f"rtsp://127.0.0.1:9/{code}",
                                          unit_code=village.code))
    latest = get_settings().data_dir / "video" / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    (latest / "e2e-cam-1.jpg").write_bytes(_first_frame())
    auth_service.create_user(session, username="e2e_patrol", password=PASSWORD, role=Role.VIDEO_PATROLLER,
                             unit_id=town.id, display_name="e2e_patrol")
    info["logins"][Role.VIDEO_PATROLLER.value] = ("e2e_patrol", town.code, town.name)
    plan = create_patrol_plan(session, "E2E 市场巡查", "e2e_patrol", ["e2e-cam-1", "e2e-cam-2"], interval_s=5)
    info["patrol_plan_id"] = plan.id


def _seed_tracing(session: Any, people: list[Any], village: Any) -> int:
    """A case (the first person) with the second as a close contact, and a key person under control."""
    from datetime import date, timedelta

    from zhikong.core.time import utcnow
    from zhikong.screening.models import ControlMeasure, KeyCategory, KeyPerson
    from zhikong.tracing.models import Case, Contact, ContactClass, Exposure, RunStatus, TraceRun

    now = utcnow()
    case = Case(
        person_key=people[0].id_number_hash,
        person_id=people[0].id,
        id_number_hash=people[0].id_number_hash,
        label="确诊病例",
        onset_at=now - timedelta(days=2),
        traced_at=now,
    )
    run = TraceRun(
        policy="e2e", policy_edition=9, engine="duckdb", status=RunStatus.COMPLETED, cases=1, contacts=1
    )
    session.add_all([case, run])
    session.flush()
    contact = Contact(
        run_id=run.id,
        case_id=case.id,
        person_key=people[1].id_number_hash,
        person_id=people[1].id,
        cls=ContactClass.CLOSE,
        hop=1,
        score=0.92,
        close_minutes=45.0,
        first_at=now - timedelta(days=3),
        last_at=now - timedelta(days=3, hours=-1),
        explanation="同一网格共处 45 分钟",
        quarantine_central_days=14,
        quarantine_home_days=7,
    )
    contact.exposures.append(
        Exposure(
            source="cell",
            place="农贸市场",
            start_at=now - timedelta(days=3),
            end_at=now - timedelta(days=3, minutes=-45),
            minutes=45.0,
            distance="same_cell",
        )
    )
    session.add(contact)
    session.add(
        KeyPerson(
            person_id=people[1].id,
            name=people[1].name,
            category=KeyCategory.CLOSE_CONTACT,
            source="tracing",
            measure=ControlMeasure.CENTRAL_QUARANTINE,
            start_date=date.today(),
            end_date=date.today() + timedelta(days=14),
            policy_edition="9",
            unit_id=village.id,
        )
    )
    session.flush()
    return int(case.id)


@contextmanager
def live_server(tmp: Path, *, banan: bool = True) -> Iterator[LiveServer]:
    """Serve zhikong on a temp database; environment restored afterwards."""
    from zhikong.core import config as config_mod
    from zhikong.core import db as db_mod

    saved = {
        k: os.environ.get(k)
        for k in (
            "ZHIKONG_DATA_DIR",
            "ZHIKONG_SECRET_KEY",
            "ZHIKONG_DATABASE_URL",
            "ZHIKONG_COOKIE_SECURE",
            "ZHIKONG_CONFIG",
        )
    }
    os.environ["ZHIKONG_DATA_DIR"] = str(tmp / "var")
    os.environ["ZHIKONG_SECRET_KEY"] = "e2e-secret-key-0123456789abcdef"
    os.environ["ZHIKONG_COOKIE_SECURE"] = "false"
    os.environ.pop("ZHIKONG_DATABASE_URL", None)
    os.environ.pop("ZHIKONG_CONFIG", None)
    config_mod.get_settings.cache_clear()
    cache_clear = getattr(db_mod, "_engine_for", None)
    if cache_clear is not None:
        cache_clear.cache_clear()
    try:
        info = _seed(banan)
        from zhikong.web.app import create_app

        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        try:
            yield LiveServer(url=f"http://127.0.0.1:{port}", data_dir=tmp, logins=info["logins"], extra=info)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        config_mod.get_settings.cache_clear()
        if cache_clear is not None:
            cache_clear.cache_clear()
