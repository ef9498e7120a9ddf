"""The person page's trajectory endpoint: lake data through the engine, jurisdiction, roles, audit."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.integration.web import small_district
from tests.unit.tracing.scenario import at, pings, write_ref, write_source
from zhikong.audit.models import AuditRecord
from zhikong.auth.models import Role
from zhikong.auth.service import create_api_token, create_user
from zhikong.core.config import Settings
from zhikong.core.crypto import get_cipher
from zhikong.people.models import Person
from zhikong.web.app import create_app

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

IDN, PHONE = "500113199001011234", "+8613800138000"


def _token(session: Session, name: str, role: Role, unit_id: int) -> dict[str, str]:
    user = create_user(session, username=name, password="password-123", role=role, unit_id=unit_id)
    _, tok = create_api_token(session, user, "t")
    return {"Authorization": f"Bearer {tok}"}


def test_trajectory_endpoint(settings: Settings, session: Session) -> None:
    units = small_district.build(session)
    cipher = get_cipher()
    person = Person(name="张三", village_id=units["V11"].id, id_number_hash=cipher.keyed_hash(IDN),
                    phone_hash=cipher.keyed_hash(PHONE))
    nobody = Person(name="李四", village_id=units["V11"].id, id_number_hash=cipher.keyed_hash("X"))
    session.add_all([person, nobody])
    session.flush()
    village = _token(session, "v11", Role.VILLAGE_OPERATOR, units["V11"].id)
    other = _token(session, "v21", Role.VILLAGE_OPERATOR, units["V21"].id)
    video = _token(session, "vp", Role.VIDEO_PATROLLER, units["D"].id)
    session.commit()

    lake = settings.resolved_lake_dir
    write_ref(lake, "tower", [{"tower_id": "T1", "lat": 29.40, "lon": 106.50}])
    write_ref(lake, "venue", [{"venue_id": "V1", "name": "农贸市场", "kind": "market",
                               "lat": 29.41, "lon": 106.51}])
    write_source(lake, "cell", pings(cipher.keyed_hash(PHONE), "T1", at(10, 8), 30))
    idh = cipher.keyed_hash(IDN)
    write_source(lake, "venue_scan", [{"venue_id": "V1", "ts": at(10, 10), "pid": idh},
                                      {"venue_id": "V1", "ts": at(10, 10) - timedelta(days=20), "pid": idh}])

    client = TestClient(create_app())
    url = f"/people/{person.id}/trajectory.json"
    r = client.get(url, headers=village)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"]) == ("2022-02-25", "2022-03-10")  # 14 days ending with the last data
    assert [(p["source"], p["place"], p["start"], p["end"]) for p in body["points"]] == [
        ("cell", "T1", "2022-03-10T08:00+08:00", "2022-03-10T08:30+08:00"),
        ("venue_scan", "农贸市场", "2022-03-10T10:00+08:00", "2022-03-10T10:00+08:00"),
    ]
    assert body["counts"] == {"cell": 1, "venue_scan": 1, "camera": 0, "gps": 0}
    wide = client.get(url, headers=village, params={"from": "2022-02-15", "to": "2022-03-10"}).json()
    assert len(wide["points"]) == 3 and wide["points"][0]["start"].startswith("2022-02-18")
    empty = client.get(f"/people/{nobody.id}/trajectory.json", headers=village)
    assert empty.status_code == 200 and empty.json()["points"] == []
    backwards = client.get(url, headers=village, params={"from": "2022-03-10", "to": "2022-03-01"})
    assert backwards.status_code == 422

    assert client.get(url, headers=other).status_code == 404       # another unit's person
    assert client.get(url, headers=video).status_code == 403       # role may not see trajectories
    assert client.get(url).status_code == 401

    records = session.scalars(select(AuditRecord).where(AuditRecord.action == "person.read_trajectory")
                              .order_by(AuditRecord.id)).all()
    mine = [json.loads(r.detail) for r in records if r.subject_id == str(person.id)]
    assert len(mine) == 2 and all(d["view"] == "map" for d in mine)  # one per view, none when refused
    assert [r.subject_id for r in records].count(str(nobody.id)) == 1  # the empty view is audited too
    assert mine[0]["points"] == 2 and mine[0]["first"] == "2022-02-25" and mine[1]["points"] == 3

    page = client.get(f"/people/{person.id}", headers=village)
    assert page.status_code == 200 and 'id="person-map"' in page.text and "person_map.js" in page.text
    assert 'id="person-map"' not in client.get(f"/people/{person.id}", headers=video).text
