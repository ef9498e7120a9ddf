"""Health checks, test results, missing-check sweep and self-report links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.integration.facilities.conftest import World
from zhikong.alerts.models import Alert, AlertKind
from zhikong.core.errors import Conflict, InvalidInput, PermissionDenied
from zhikong.core.time import utcnow
from zhikong.facilities import followup, service
from zhikong.facilities.models import CheckSource, HealthCheck, LabOutcome, Measure


def _alerts(w: World) -> int:
    return w.session.scalar(select(func.count()).select_from(Alert)) or 0


def test_fever_check_raises_one_alert_routed_to_the_point(world: World) -> None:
    s = world.session
    fu, _ = service.admit(
        s, "test", world.persons[0].id, facility_id=world.points[0].id, at=utcnow() - timedelta(hours=2)
    )
    ok = followup.record_check(
        s, "test", fu.id, temperature=36.6, measured_at=utcnow() - timedelta(hours=1), slot="am"
    )
    assert ok.alert_id is None and not ok.check.abnormal
    hot = followup.record_check(s, "test", fu.id, temperature=37.3, symptoms=["cough"], slot="pm")
    s.commit()
    assert hot.check.abnormal and hot.alert_id is not None
    alert = s.get(Alert, hot.alert_id)
    assert alert is not None and alert.kind == AlertKind.FEVER
    assert alert.unit_id == world.points[0].unit_id and alert.place_id == world.points[0].place_id
    with pytest.raises(Conflict, match="already recorded"):
        followup.record_check(s, "test", fu.id, temperature=36.5, slot="pm")


@pytest.mark.parametrize("bad", [20.0, 48.0, float("nan")])
def test_absurd_temperatures_are_refused(world: World, bad: float) -> None:
    s = world.session
    fu = service.start_followup(s, "test", world.persons[1].id, Measure.HOME)
    with pytest.raises(InvalidInput) as e:
        followup.record_check(s, "test", fu.id, temperature=bad)
    assert e.value.field == "temperature"
    assert s.scalar(select(func.count()).select_from(HealthCheck)) == 0


def test_unknown_symptom_is_refused(world: World) -> None:
    s = world.session
    fu = service.start_followup(s, "test", world.persons[1].id, Measure.MONITORING)
    with pytest.raises(InvalidInput, match="unknown symptom"):
        followup.record_check(s, "test", fu.id, temperature=36.5, symptoms="cough,zombie")


def test_missing_checks_alert_once(world: World) -> None:
    s = world.session
    start = utcnow() - timedelta(days=2)
    fu = service.start_followup(s, "test", world.persons[2].id, Measure.HOME, at=start)
    s.commit()
    n1 = followup.sweep_missing(s)
    s.commit()
    assert 3 <= n1 <= 5  # two days back: 3 to 5 slot deadlines passed, depending on the hour
    before = _alerts(world)
    assert followup.sweep_missing(s) == 0  # rerun: the same keys, nothing new
    s.commit()
    assert _alerts(world) == before
    alert = s.scalars(select(Alert).order_by(Alert.id)).first()
    assert alert is not None and alert.unit_id == fu.unit_id


def test_test_results_and_positive_alert(world: World) -> None:
    s = world.session
    fu, _ = service.admit(
        s,
        "test",
        world.persons[0].id,
        facility_id=world.points[0].id,
        at=utcnow() - timedelta(days=1, hours=1),
    )
    r1 = followup.record_test(
        s, "test", fu.id, outcome=LabOutcome.NEGATIVE, day=1, sampled_at=utcnow() - timedelta(days=1)
    )
    assert r1.day_number == 1
    followup.record_test(s, "test", fu.id, outcome=LabOutcome.POSITIVE)
    s.commit()
    assert _alerts(world) == 1
    with pytest.raises(Conflict):
        followup.record_test(s, "test", fu.id, outcome=LabOutcome.NEGATIVE, day=1)
    assert [d for d, _ in followup.schedule(fu)] == [1, 2, 3, 5, 7]


def test_self_report_link(world: World) -> None:
    s = world.session
    fu = service.start_followup(s, "test", world.persons[3].id, Measure.MONITORING)
    s.commit()
    token = followup.self_report_token(fu)
    assert followup.followup_for_token(s, token).id == fu.id
    res = followup.record_check(s, None, fu.id, temperature=36.4, source=CheckSource.SELF)
    assert res.check.source == CheckSource.SELF
    with pytest.raises(PermissionDenied):
        followup.followup_for_token(s, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    # after release the link no longer works
    service.release(s, "test", fu.id)
    s.commit()
    with pytest.raises(PermissionDenied, match="expired"):
        followup.followup_for_token(s, token)
