"""A device simulator: every device publishes one message per period over MQTT (QoS 1) — heartbeats,
temperature readings from thermal cameras (a small share above the fever threshold), door events."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zhikong.facilities.models import DeviceKind
from zhikong.facilities.mqtt import publisher
from zhikong.facilities.telemetry import message_json, topic_for


@dataclass
class SimResult:
    published: int = 0
    fevers: int = 0
    door_opens: int = 0
    seconds: float = 0.0


def _payload(
    code: str, kind: DeviceKind, seq: int, rng: random.Random, fever_rate: float, res: SimResult
) -> bytes:
    now = time.time()
    if kind == DeviceKind.THERMAL_CAMERA:
        fever = rng.random() < fever_rate
        res.fevers += fever
        v = round(rng.uniform(37.4, 38.8) if fever else rng.gauss(36.5, 0.25), 1)
        return message_json(code, seq, "reading", now, value=min(v, 37.2) if not fever else v)
    if kind == DeviceKind.DOOR_SENSOR and rng.random() < 0.001:
        res.door_opens += 1
        return message_json(code, seq, "door", now, state="open")
    return message_json(code, seq, "heartbeat", now)


def simulate(
    host: str,
    port: int,
    devices: Sequence[tuple[str, DeviceKind]],
    *,
    seconds: float,
    period: float = 1.0,
    seq_start: int = 0,
    fever_rate: float = 0.001,
    seed: int = 1,
    client_id: str = "zhikong-sim",
    stop: Callable[[], bool] | None = None,
) -> SimResult:
    """Publish ``len(devices) / period`` messages a second for ``seconds``; waits for the broker's
    PUBACKs at the end. Each device's ``seq`` counts up from ``seq_start``."""
    rng = random.Random(seed)
    res = SimResult()
    pub = publisher(host, port, client_id)
    started = time.monotonic()
    tick = 0
    pending = []
    try:
        while time.monotonic() - started < seconds and not (stop and stop()):
            slot_start = started + tick * period
            n = len(devices)
            for i, (code, kind) in enumerate(devices):
                # spread the devices evenly over the period
                due = slot_start + period * i / max(n, 1)
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                info = pub.publish(
                    topic_for(code), _payload(code, kind, seq_start + tick, rng, fever_rate, res), qos=1
                )
                pending.append(info)
                res.published += 1
            tick += 1
            pending = [p for p in pending if not p.is_published()]
        for p in pending:
            p.wait_for_publish(30)
    finally:
        res.seconds = time.monotonic() - started
        pub.loop_stop()
        pub.disconnect()
    return res
