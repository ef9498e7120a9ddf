"""A device simulator: every device publishes one message per period over MQTT (QoS 1) — heartbeats,
temperature readings from thermal cameras (a small share above the fever threshold), door events."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt

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
    devices_per_client: int = 250,
    max_outstanding: int = 20000,
) -> SimResult:
    """Publish ``len(devices) / period`` messages a second for ``seconds``; waits for the broker's
    PUBACKs at the end. Each device's ``seq`` counts up from ``seq_start``. Devices are spread over
    several connections (``devices_per_client``); a connection with ``max_outstanding`` messages not
    yet acknowledged by the broker waits for the oldest (back-pressure, never a dropped message)."""
    rng = random.Random(seed)
    res = SimResult()
    n_clients = max(1, -(-len(devices) // devices_per_client))
    pubs = [publisher(host, port, f"{client_id}-{i}") for i in range(n_clients)]
    outstanding: list[deque[mqtt.MQTTMessageInfo]] = [deque() for _ in pubs]
    started = time.monotonic()
    tick = 0
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
                k = i % n_clients
                q = outstanding[k]
                while q and q[0].is_published():
                    q.popleft()
                while len(q) >= max_outstanding:
                    q.popleft().wait_for_publish(30)
                payload = _payload(code, kind, seq_start + tick, rng, fever_rate, res)
                info = pubs[k].publish(topic_for(code), payload, qos=1)
                while info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # the client's queue is full: wait, then retry
                    if q:
                        q.popleft().wait_for_publish(30)
                    else:
                        time.sleep(0.01)
                    info = pubs[k].publish(topic_for(code), payload, qos=1)
                q.append(info)
                res.published += 1
            tick += 1
        for q in outstanding:
            for info in q:
                info.wait_for_publish(60)
    finally:
        res.seconds = time.monotonic() - started
        for pub in pubs:
            pub.loop_stop()
            pub.disconnect()
    return res
