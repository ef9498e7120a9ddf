"""Screening services on a small synthetic ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.core.crypto import get_cipher, mask_middle
from zhikong.core.errors import RowErrors
from zhikong.geo.models import AdminUnit, UnitKind, UnitLevel
from zhikong.people.models import Person, Sex
from zhikong.screening.identifiers import phone_e164
from zhikong.screening.keypersons import load_policy
from zhikong.screening.models import (
    ConcealmentFlag,
    ControlMeasure,
    Decision,
    IncomingList,
    KeyCategory,
    KeyPerson,
    ListLink,
    ListRow,
)
from zhikong.screening.noise import noisy_list, synthetic_ledger
from zhikong.screening.service import (
    import_list,
    import_risk_areas,
    link_list,
    run_concealment,
    was_risk_area,
)


def _unit(session: Session, code: str, level: UnitLevel, kind: UnitKind, parent: AdminUnit | None,
          ) -> AdminUnit:
    u = AdminUnit(code=code, name=f"单位{code[-3:]}", level=level, kind=kind,
                  parent_id=parent.id if parent else None,
                  path=(parent.path if parent else "/") + code + "/", lat=29.4, lon=106.5)
    session.add(u)
    session.flush()
    return u


@pytest.fixture
def ledger(session: Session) -> pd.DataFrame:
    """150 persons in the database; returns the plaintext frame with ``person_id``."""
    df = synthetic_ledger(150, seed=41, villages=6)
    district = _unit(session, "500113", UnitLevel.DISTRICT, UnitKind.DISTRICT, None)
    units: dict[str, AdminUnit] = {}
    for code in sorted(set(df["village_code"])):
        town = units.get(code[:9]) or _unit(session, code[:9], UnitLevel.TOWN, UnitKind.TOWN, district)
        units[code[:9]] = town
        units[code] = _unit(session, code, UnitLevel.VILLAGE, UnitKind.VILLAGE, town)
    cipher = get_cipher()
    ids = []
    for r in df.to_dict("records"):
        e164 = phone_e164(r["phone"]) or ""
        p = Person(name=r["name"], sex=Sex(r["sex"]), birth_date=date.fromisoformat(r["birth_date"]),
                   id_number_enc=cipher.encrypt(r["id_number"]),
                   id_number_hash=cipher.keyed_hash(r["id_number"]),
                   id_number_masked=mask_middle(r["id_number"], 6, 4),
                   phone_enc=cipher.encrypt(e164), phone_hash=cipher.keyed_hash(e164),
                   village_id=units[r["village_code"]].id)
        session.add(p)
        session.flush()
        ids.append(p.id)
    df["person_id"] = ids
    return df


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


# ---- list import -------------------------------------------------------------------------------

def test_import_gbk_list_with_chinese_headers(session: Session, tmp_path: Path) -> None:
    f = _write(tmp_path, "telecom.csv", "姓名,手机号,身份证号,来源地,到达日期\n"
               "张三,13800138000,11010519491231002X,武汉市,2020-03-02\n"
               "李四,+86 139-0013-9000,,孝感市,2020/3/3\n", "gbk")
    lst = import_list(session, f, source="telecom", list_date=date(2020, 3, 4))
    rows = session.scalars(select(ListRow).where(ListRow.list_id == lst.id).order_by(ListRow.row_no)).all()
    assert [r.name for r in rows] == ["张三", "李四"]
    assert rows[0].id_number_valid and rows[0].id_number_masked == "110105********002X"
    assert rows[0].id_number_hash == get_cipher().keyed_hash("11010519491231002X")
    assert rows[1].phone_hash == get_cipher().keyed_hash("+8613900139000")
    assert rows[1].event_date == date(2020, 3, 3) and rows[1].origin_city == "孝感市"
    assert "13900139000" not in (rows[1].phone_enc or "")


@pytest.mark.parametrize(("text", "field", "reason"), [
    ("手机号,来源地\n13800138000,武汉市\n", "header", "missing column name"),
    ("姓名,来源地\n张三,武汉市\n", "header", "one of id_number"),
    ("姓名,手机号\n张三,13800138000\n ,13900139000\n", "name", "empty name"),
    ("姓名,身份证号\n张三,123\n李四,456\n王五,789\n", "id_number", "every one"),
    ("姓名,手机号\n张三,13800138000\n张三,13800138000\n", "row", "duplicate of row 2"),
    ("姓名,手机号,出生日期\n张三,13800138000,1990-13-01\n", "birth_date", "not a date"),
    ("姓名,手机号\n张三,电话不详\n", "phone", "not a phone"),
])
def test_bad_list_is_rejected_whole(session: Session, tmp_path: Path, text: str, field: str,
                                    reason: str) -> None:
    f = _write(tmp_path, "bad.csv", text)
    with pytest.raises(RowErrors) as ei:
        import_list(session, f, source="netizen", list_date=date(2020, 3, 4))
    assert any(e.field == field and reason in e.reason for e in ei.value.errors), ei.value.errors
    assert "bad.csv" in str(ei.value)
    assert session.scalar(select(func.count()).select_from(IncomingList)) == 0
    assert session.scalar(select(func.count()).select_from(ListRow)) == 0


def test_unknown_source_is_refused(session: Session, tmp_path: Path) -> None:
    f = _write(tmp_path, "x.csv", "姓名,手机号\n张三,13800138000\n")
    with pytest.raises(ValueError, match="unknown list source"):
        import_list(session, f, source="radio", list_date=date(2020, 3, 4))


# ---- risk areas --------------------------------------------------------------------------------

RISK = ("风险等级,省份,城市,区划代码,区县,街道,生效日期,解除日期\n"
        "高,湖北省,武汉市,420100,,,2020-01-23,2020-04-08\n"
        "中,北京市,北京市,110106,丰台区,新发地街道,2020-06-13,\n")


def test_risk_area_queries(session: Session, tmp_path: Path) -> None:
    assert import_risk_areas(session, _write(tmp_path, "r1.csv", RISK), published_on=date(2020, 1, 23)) == 2
    at = datetime(2020, 3, 1, 4, tzinfo=UTC)
    assert was_risk_area(session, "武汉市", at) is not None
    assert was_risk_area(session, "420106", at) is not None  # a district of Wuhan
    assert was_risk_area(session, "420000", at) is not None  # Hubei contains the area
    assert was_risk_area(session, "孝感市", at) is None
    assert was_risk_area(session, "武汉市", datetime(2020, 5, 1, tzinfo=UTC)) is None  # lifted
    assert was_risk_area(session, "新发地街道", datetime(2020, 6, 20, tzinfo=UTC)) is not None
    assert was_risk_area(session, "110106", datetime(2020, 6, 1, tzinfo=UTC)) is None  # not yet


def test_risk_area_versions(session: Session, tmp_path: Path) -> None:
    import_risk_areas(session, _write(tmp_path, "r1.csv", RISK), published_on=date(2020, 1, 23))
    later = "风险等级,城市,生效日期\n中,大连市,2020-07-22\n"
    import_risk_areas(session, _write(tmp_path, "r2.csv", later), published_on=date(2020, 7, 23))
    # after the new publication, the Beijing entry is no longer listed
    assert was_risk_area(session, "新发地街道", datetime(2020, 7, 24, tzinfo=UTC)) is None
    assert was_risk_area(session, "新发地街道", datetime(2020, 7, 1, tzinfo=UTC)) is not None
    assert was_risk_area(session, "大连市", datetime(2020, 7, 24, tzinfo=UTC)) is not None


def test_bad_risk_area_rows(session: Session, tmp_path: Path) -> None:
    f = _write(tmp_path, "r.csv", "风险等级,城市,生效日期\n极高,武汉市,2020-01-23\n高,,2020-01-23\n")
    with pytest.raises(RowErrors) as ei:
        import_risk_areas(session, f)
    assert {e.row for e in ei.value.errors} == {2, 3}


# ---- linkage decisions -------------------------------------------------------------------------

def test_link_list_decisions(session: Session, tmp_path: Path, ledger: pd.DataFrame) -> None:
    records, truth = noisy_list(ledger, 40, seed=42, noise=0.3, in_ledger=0.75)
    records = records.drop(columns=["unique_id"])
    f = tmp_path / "arrivals.csv"
    records.to_csv(f, index=False)
    import_risk_areas(session, _write(tmp_path, "r.csv", RISK), published_on=date(2020, 1, 23))
    lst = import_list(session, f, source="telecom", list_date=date(2020, 3, 2), allow_duplicates=True)
    summary = link_list(session, lst.id)
    assert summary.rows == 40
    assert summary.auto_link + summary.review + summary.not_in_ledger == 40
    pid_of = dict(zip(ledger["unique_id"], ledger["person_id"], strict=True))
    links = session.execute(select(ListRow.row_no, ListLink).join(ListLink, ListLink.row_id == ListRow.id)
                            .where(ListRow.list_id == lst.id)).all()
    assert len(links) == 40
    wrong = 0
    for row_no, lk in links:
        t = truth.iloc[row_no - 2]
        if lk.decision == Decision.AUTO_LINK:
            wrong += lk.person_id != pid_of[t]
            assert lk.explanation["name"]["level"]
        if lk.decision == Decision.NOT_IN_LEDGER:
            assert lk.person_id is None and lk.unit_id is not None and lk.task_id is not None
        if lk.decision == Decision.REVIEW:
            assert lk.unit_id is not None and lk.person_id is not None and lk.task_id is not None
    assert wrong == 0
    outsiders = sum(t is None for t in truth)
    assert summary.not_in_ledger >= outsiders - 1
    # no risk-area origin in the synthetic list: no key persons
    assert summary.key_persons == 0


def test_arrival_from_risk_area_becomes_key_person(session: Session, tmp_path: Path,
                                                   ledger: pd.DataFrame) -> None:
    import_risk_areas(session, _write(tmp_path, "r.csv", RISK), published_on=date(2020, 1, 23))
    p = ledger.iloc[3]
    f = _write(tmp_path, "t.csv", "姓名,身份证号,手机号,来源地,到达日期\n"
               f"{p['name']},{p['id_number']},{p['phone']},武汉市,2020-03-05\n")
    lst = import_list(session, f, source="telecom", list_date=date(2020, 3, 6))
    summary = link_list(session, lst.id)
    assert summary.auto_link == 1 and summary.key_persons == 1
    kp = session.scalars(select(KeyPerson)).one()
    assert kp.person_id == int(p["person_id"])
    assert kp.category == KeyCategory.RISK_AREA_ARRIVAL
    assert kp.measure == ControlMeasure.HOME_QUARANTINE
    rule = load_policy().rules[KeyCategory.RISK_AREA_ARRIVAL]
    assert (kp.end_date - kp.start_date).days == rule.days and kp.start_date == date(2020, 3, 5)
    # linking again does not register the person twice
    assert link_list(session, lst.id).key_persons == 0


# ---- concealment -------------------------------------------------------------------------------

def test_concealment_from_the_lake(session: Session, tmp_path: Path, ledger: pd.DataFrame) -> None:
    import_risk_areas(session, _write(tmp_path, "r.csv", RISK), published_on=date(2020, 1, 23))
    cipher = get_cipher()
    a, b, c = ledger.iloc[0], ledger.iloc[1], ledger.iloc[2]
    lake = tmp_path / "lake"
    (lake / "travel" / "day=2020-03-02").mkdir(parents=True)
    (lake / "roaming" / "day=2020-03-02").mkdir(parents=True)
    ts = pd.Timestamp("2020-03-02T05:00:00Z")
    pd.DataFrame({
        "pid": [cipher.keyed_hash(a["id_number"]), cipher.keyed_hash(b["id_number"])],
        "mode": ["train", "train"], "vehicle": ["G1", "G2"], "carriage": ["01", "02"], "seat": ["1A", "2B"],
        "origin_city": ["武汉市", "武汉市"], "origin_code": ["420100", "420100"],
        "depart_ts": [ts - pd.Timedelta(hours=5)] * 2, "ts": [ts] * 2,
    }).to_parquet(lake / "travel" / "day=2020-03-02" / "part-0.parquet")
    pd.DataFrame({
        "pid": [cipher.keyed_hash(phone_e164(c["phone"]) or "")], "city": ["武汉市"],
        "city_code": ["420100"], "first_seen": [ts - pd.Timedelta(days=3)], "last_seen": [ts],
    }).to_parquet(lake / "roaming" / "day=2020-03-02" / "part-0.parquet")
    # a declared the trip; b and c did not
    f = _write(tmp_path, "d.csv", "姓名,身份证号,来源地,到达日期\n"
               f"{a['name']},{a['id_number']},武汉市,2020-03-02\n")
    lst = import_list(session, f, source="declaration", list_date=date(2020, 3, 2))
    link_list(session, lst.id)
    summary = run_concealment(session, lake)
    assert summary.flagged == 2
    flagged = {fl.person_id: fl for fl in session.scalars(select(ConcealmentFlag))}
    assert set(flagged) == {int(b["person_id"]), int(c["person_id"])}
    assert flagged[int(c["person_id"])].evidence[0]["source"] == "roaming"
    assert flagged[int(b["person_id"])].evidence[0]["city"] == "武汉市"
    assert run_concealment(session, lake).flagged == 0  # not flagged twice


def test_dedupe_list(session: Session, tmp_path: Path, ledger: pd.DataFrame) -> None:
    from zhikong.screening.service import dedupe_list

    p, q = ledger.iloc[5], ledger.iloc[6]
    f = _write(tmp_path, "dup.csv", "姓名,身份证号,手机号\n"
               f"{p['name']},{p['id_number']},{p['phone']}\n"
               f"{q['name']},{q['id_number']},{q['phone']}\n"
               f"{p['name']},{p['id_number']},\n")
    lst = import_list(session, f, source="netizen", list_date=date(2020, 3, 2), allow_duplicates=True)
    assert dedupe_list(session, lst.id) == [[2, 4]]
