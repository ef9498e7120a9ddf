"""A real MQTT broker (mosquitto) on loopback: the consumer stores everything once, and a consumer
that dies after committing but before acknowledging loses nothing and raises no alarm twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from tests.integration.facilities.conftest import World
from zhikong.alerts.models import AlertDelivery
from zhikong.facilities import telemetry
from zhikong.facilities.broker import LocalBroker, find_mosquitto
from zhikong.facilities.models import TelemetryMessage
from zhikong.facilities.mqtt import Consumer, publisher
from zhikong.facilities.telemetry import message_json, topic_for

pytestmark = [
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed"),
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


class Crash(Exception):
    pass


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


def _publish(b: LocalBroker, n: int, start: int = 0) -> int:
    """n messages: heartbeats from CAM-1 and readings from THERM-1 (every 10th a fever)."""
    pub = publisher(b.host, b.port, "test-pub")
    now = time.time()
    fevers = 0
    infos = []
    for i in range(start, start + n):
        if i % 2:
            infos.append(pub.publish(topic_for("CAM-1"), message_json("CAM-1", i, "heartbeat", now), qos=1))
        else:
            v = 38.0 if i % 10 == 0 else 36.5
            fevers += v >= 37.3
            infos.append(
                pub.publish(topic_for("THERM-1"), message_json("THERM-1", i, "reading", now, value=v), qos=1)
            )
    for info in infos:
        info.wait_for_publish(10)
    pub.publish(topic_for("CAM-1"), b"garbage", qos=1).wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()
    return fevers


def _stored(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(TelemetryMessage)).scalar_one())


def _run_until(consumer: Consumer, engine: Engine, want: int, timeout: float = 30) -> None:
    stop = threading.Event()
    t = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    t.start()
    deadline = time.monotonic() + timeout
    while _stored(engine) < want and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let the garbage message and last acks through
    stop.set()
    t.join(10)


def test_consumer_stores_everything_once(world: World, engine: Engine, broker: LocalBroker) -> None:
    c = Consumer(broker.host, broker.port, client_id="t-once", engine=engine, batch_size=40, max_wait=0.05)
    c.connect()
    c.client.loop(0.5)  # subscribed
    c.client.disconnect()
    fevers = _publish(broker, 200)
    _run_until(
        Consumer(broker.host, broker.port, client_id="t-once", engine=engine, batch_size=40, max_wait=0.05),
        engine,
        200,
    )
    s = world.session
    s.expire_all()
    assert _stored(engine) == 200
    counts = telemetry.counters(s)
    assert counts["stored"] == 200 and counts["malformed"] == 1
    assert s.scalar(select(func.count()).select_from(AlertDelivery)) == fevers


def test_restart_after_commit_before_ack_loses_nothing(
    world: World, engine: Engine, broker: LocalBroker
) -> None:
    batches = {"n": 0}

    def crash_on_third(_size: int) -> None:
        batches["n"] += 1
        if batches["n"] == 3:
            raise Crash("killed between commit and acknowledgement")

    first = Consumer(
        broker.host,
        broker.port,
        client_id="t-restart",
        engine=engine,
        batch_size=25,
        max_wait=0.05,
        after_commit=crash_on_third,
    )
    first.connect()
    first.client.loop(0.5)
    first.client.disconnect()
    fevers = _publish(broker, 300)
    first = Consumer(
        broker.host,
        broker.port,
        client_id="t-restart",
        engine=engine,
        batch_size=25,
        max_wait=0.05,
        after_commit=crash_on_third,
    )
    with pytest.raises(Crash):
        first.run(threading.Event(), max_seconds=20)
    stored_before = _stored(engine)
    assert 50 <= stored_before < 300  # it died mid-way, after committing its third batch
    second = Consumer(
        broker.host, broker.port, client_id="t-restart", engine=engine, batch_size=25, max_wait=0.05
    )
    _run_until(second, engine, 300)
    s = world.session
    s.expire_all()
    assert _stored(engine) == 300
    counts = telemetry.counters(s)
    assert counts["stored"] == 300
    assert counts["duplicate"] >= 25  # the committed but unacknowledged batch came again
    # no alarm twice: one delivery per fever message, and the redelivered ones were replays at most
    assert s.scalar(select(func.count()).select_from(AlertDelivery)) == fevers


def test_a_poison_message_is_rejected_alone(
    world: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch refused on its content is stored message by message; the bad one is logged, the rest kept."""
    from zhikong.core.errors import InvalidInput
    from zhikong.facilities import mqtt as mqtt_mod
    from zhikong.facilities.models import TelemetryReject
    from zhikong.facilities.telemetry import RawMessage

    real = mqtt_mod.ingest
    poison = message_json("CAM-1", 99, "heartbeat", time.time())

    def picky(session, raws, policy=None):  # type: ignore[no-untyped-def]
        if any(r.payload == poison for r in raws):
            raise InvalidInput("cannot store this one")
        return real(session, raws, policy)

    monkeypatch.setattr(mqtt_mod, "ingest", picky)
    c = Consumer("127.0.0.1", 1, engine=engine)
    from zhikong.core.time import utcnow

    now = time.time()
    c._buf = [
        (i + 1, RawMessage(payload=message_json("CAM-1", i, "heartbeat", now), received_at=utcnow()))
        for i in range(5)
    ]
    c._buf.insert(2, (99, RawMessage(payload=poison, received_at=utcnow())))
    c.flush()
    assert _stored(engine) == 5 and c.stats.acked == 6
    s = world.session
    s.expire_all()
    rej = s.scalars(select(TelemetryReject)).all()
    assert len(rej) == 1 and "cannot store" in rej[0].detail
    assert telemetry.counters(s)["malformed"] == 1
