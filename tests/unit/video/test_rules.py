from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from zhikong.core.errors import InvalidInput
from zhikong.video.alarms import AlarmKind, RecordingSink
from zhikong.video.detector import Box
from zhikong.video.rules import IouTracker, RuleEngine, in_zone, point_in_polygon
from zhikong.video.schemas import ScheduleWindow, parse_rules

SQUARE = [(100.0, 100.0), (300.0, 100.0), (300.0, 300.0), (100.0, 300.0), (100.0, 100.0)]
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def rules(**zone: object) -> dict[str, object]:
    return {"frame_width": 640, "frame_height": 360, "zones": [{"name": "z", "polygon": SQUARE, **zone}]}


def person(x: float, y_feet: float, score: float = 0.9) -> Box:
    return Box(x - 20, y_feet - 100, x + 20, y_feet, score)


def test_point_in_polygon() -> None:
    assert point_in_polygon(200, 200, SQUARE)
    assert not point_in_polygon(50, 200, SQUARE)
    assert point_in_polygon(100, 150, SQUARE)  # on the edge
    # concave L shape
    ell = [(0.0, 0.0), (10.0, 0.0), (10.0, 4.0), (4.0, 4.0), (4.0, 10.0), (0.0, 10.0), (0.0, 0.0)]
    assert point_in_polygon(2, 8, ell) and not point_in_polygon(8, 8, ell)


def test_in_zone_uses_the_feet() -> None:
    head_inside_feet_outside = Box(180, 150, 220, 350, 0.9)
    assert not in_zone(head_inside_feet_outside, SQUARE)
    assert in_zone(person(200, 250), SQUARE)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (rules(polygon=SQUARE[:-1]), "does not close"),
        (rules(polygon=[(0, 0), (10, 10), (0, 0)]), "at least 3 corners"),
        (rules(polygon=[(0, 0), (10, 10), (20, 20), (0, 0)]), "no area"),
        (rules(polygon=[(0, 0), (700, 0), (700, 100), (0, 0)]), "outside the 640x360 frame"),
        (rules(crowd={"min_people": 1, "min_seconds": 10}), "min_people"),
        (rules(crowd={"min_people": 5, "min_seconds": -3}), "min_seconds"),
        (rules(crowd={"min_people": 5, "min_seconds": 10, "release_people": 9}), "release_people"),
        (rules(loitering={"max_seconds": 1}), "max_seconds"),
        (rules(crowd={"min_people": 5, "min_seconds": 10, "colour": "red"}), "colour"),
    ],
)
def test_bad_rules_name_camera_zone_and_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as e:
        parse_rules("cam-7", data)
    assert str(e.value).startswith("camera cam-7:")
    assert "zone z" in str(e.value) or "frame" in str(e.value)


def test_duplicate_zone_names_rejected() -> None:
    data = {"frame_width": 640, "frame_height": 360,
            "zones": [{"name": "a", "polygon": SQUARE}, {"name": "a", "polygon": SQUARE}]}
    with pytest.raises(InvalidInput, match="unique"):
        parse_rules("c", data)


def run(engine: RuleEngine, counts: list[int], step: float = 1.0) -> list[tuple[int, str]]:
    out = []
    for i, n in enumerate(counts):
        boxes = [person(120 + 30 * k, 250) for k in range(n)]
        for a in engine.update(T0 + timedelta(seconds=i * step), boxes):
            out.append((i, str(a.kind)))
    return out


def test_crowd_needs_people_for_long_enough() -> None:
    eng = RuleEngine("c", parse_rules("c", rules(crowd={"min_people": 3, "min_seconds": 5})))
    # 3 people for 4 s then 2: no gathering
    assert run(eng, [3, 3, 3, 3, 3, 2, 2]) == []
    eng = RuleEngine("c", parse_rules("c", rules(crowd={"min_people": 3, "min_seconds": 5})))
    assert run(eng, [3, 3, 3, 3, 3, 3, 4]) == [(5, "crowd")]


def test_crowd_hysteresis_one_gathering_one_alarm() -> None:
    cfg = rules(crowd={"min_people": 3, "min_seconds": 2, "release_people": 2, "release_seconds": 5})
    eng = RuleEngine("c", parse_rules("c", cfg))
    # flickering around the threshold (detector misses) stays one gathering
    counts = [3, 3, 3, 2, 3, 1, 3, 2, 2, 3, 3]
    assert run(eng, counts) == [(2, "crowd")]
    # it ends after 5 s below 2 people; a new gathering is a new alarm with a new key
    sink = RecordingSink()
    more = [1, 1, 1, 1, 1, 1, 4, 4, 4]
    for i, n in enumerate(more, start=len(counts)):
        for a in eng.update(T0 + timedelta(seconds=i), [person(120 + 30 * k, 250) for k in range(n)]):
            sink.deliver(a)
    assert sink.kinds() == ["crowd"]
    assert sink.alarms[0].people == 4 and sink.alarms[0].zone == "z"


def test_people_outside_the_zone_do_not_count() -> None:
    eng = RuleEngine("c", parse_rules("c", rules(crowd={"min_people": 2, "min_seconds": 0})))
    outside = [person(500, 250), person(550, 250), person(600, 250)]
    assert eng.update(T0, outside) == []
    assert [a.kind for a in eng.update(T0, [*outside, person(150, 250), person(250, 250)])] == [
        AlarmKind.CROWD
    ]


def test_loitering_same_track_too_long() -> None:
    eng = RuleEngine("c", parse_rules("c", rules(loitering={"max_seconds": 10})))
    alarms = []
    for i in range(15):  # one person standing still, one walking through
        boxes = [person(200, 250), person(20 + 40 * i, 340)]
        alarms += eng.update(T0 + timedelta(seconds=i), boxes)
    assert [(a.kind, a.people) for a in alarms] == [(AlarmKind.LOITERING, 1)]
    assert "逗留 10 秒" in alarms[0].message


def test_loitering_clock_resets_when_person_leaves() -> None:
    eng = RuleEngine("c", parse_rules("c", rules(loitering={"max_seconds": 10})))
    alarms = []
    for i in range(20):
        x = 200 if i % 8 < 6 else 450  # steps out of the zone every 6 s
        alarms += eng.update(T0 + timedelta(seconds=i), [person(x, 250)])
    assert alarms == []


def test_intrusion_once_per_episode_with_snapshot() -> None:
    eng = RuleEngine("c", parse_rules("c", rules(intrusion=True, intrusion_release_seconds=3)))
    frame = np.zeros((360, 640, 3), np.uint8)
    kinds = []
    for i, n in enumerate([0, 1, 1, 0, 1, 0, 0, 0, 0, 1]):
        for a in eng.update(T0 + timedelta(seconds=i), [person(200, 250)] * n, frame):
            kinds.append(i)
            assert a.snapshot_jpeg is not None and a.snapshot_jpeg[:2] == b"\xff\xd8"
    assert kinds == [1, 9]


def test_tracker_keeps_identity() -> None:
    tr = IouTracker()
    a = tr.update(0, [person(100, 200), person(300, 200)])
    b = tr.update(1, [person(305, 200), person(104, 200)])
    ids_a = {round(bx.x1): t.id for t, bx in a}
    ids_b = {round(bx.x1): t.id for t, bx in b}
    assert ids_a[80] == ids_b[84] and ids_a[280] == ids_b[285]
    tr.update(10, [])
    assert tr.tracks == {}


def test_schedule_window() -> None:
    night = ScheduleWindow(days=[1, 2, 3, 4, 5], start="22:00", end="06:00")  # type: ignore[arg-type]
    assert night.contains(datetime(2026, 11, 23, 23, 0))  # a Monday
    assert night.contains(datetime(2026, 11, 24, 5, 0))
    assert not night.contains(datetime(2026, 11, 24, 12, 0))
    assert not night.contains(datetime(2026, 11, 29, 23, 0))  # Sunday
    with pytest.raises(ValueError, match="days"):
        ScheduleWindow(days=[0])
