"""MQTT telemetry: the consumer (``zhikong facilities consume``) and a device simulator.

The consumer connects with MQTT 5, a fixed client id, ``clean_start=False`` and a long session
expiry, subscribes with QoS 1 and acknowledges manually: messages are buffered, a batch is stored and
committed, and only then are its PUBACKs sent. A consumer that dies before acknowledging gets the
messages again from the broker on restart (persistent session); storage de-duplicates them by
``(device, msg_id|seq)`` and alert intake by idempotency key, so nothing is lost and no alarm is
raised twice. The broker must queue enough for a disconnected session (mosquitto:
``max_queued_messages``) and allow enough in flight (``max_inflight_messages``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine

from zhikong.core.db import unit_of_work
from zhikong.core.errors import Conflict, EngineError, InvalidInput
from zhikong.core.time import utcnow
from zhikong.facilities.policy import Policy, builtin_policy
from zhikong.facilities.telemetry import (
    TOPIC_FILTER,
    IngestResult,
    RawMessage,
    Rejected,
    bump_counters,
    ingest,
    reject,
    sweep_offline,
)

log = logging.getLogger(__name__)


@dataclass
class ConsumerStats:
    received: int = 0
    batches: int = 0
    acked: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, res: IngestResult) -> None:
        for k, v in res.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v


class Consumer:
    """Subscribe, batch, store, commit, then acknowledge."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str = "zhikong-facilities",
        engine: Engine | None = None,
        batch_size: int = 500,
        max_wait: float = 0.2,
        policy: Policy | None = None,
        topic: str = TOPIC_FILTER,
        sweep_every: float = 30.0,
        after_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.host, self.port, self.topic = host, port, topic
        self.engine = engine
        self.batch_size, self.max_wait = batch_size, max_wait
        self.policy = policy or builtin_policy()
        self.sweep_every = sweep_every
        #: test hook, called with the batch size after each commit and before the acks
        self.after_commit = after_commit
        self.stats = ConsumerStats()
        self._buf: list[tuple[int, RawMessage]] = []
        self._first_at = 0.0
        self._connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        client.subscribe(self.topic, qos=1)
        log.info(
            "connected to %s:%s, subscribed to %s (session present: %s)",
            self.host,
            self.port,
            self.topic,
            bool(getattr(_flags, "session_present", False)),
        )
        self._connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._buf:
            self._first_at = time.monotonic()
        self._buf.append(
            (msg.mid, RawMessage(payload=bytes(msg.payload), received_at=utcnow(), topic=msg.topic))
        )
        self.stats.received += 1

    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 7 * 24 * 3600
        props.ReceiveMaximum = 65535
        self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=props)

    def _store(self, raws: list[RawMessage]) -> IngestResult:
        """Store a batch, retrying transient failures (locked database, a concurrent alert delivery)."""
        last: Exception | None = None
        for attempt in range(5):
            try:
                with unit_of_work(self.engine) as session:
                    return ingest(session, raws, self.policy)
            except (EngineError, Conflict) as e:  # the messages stay unacknowledged meanwhile
                last = e
                log.warning("storing a batch failed (%s); retry %d", e, attempt + 1)
                time.sleep(0.5 * (attempt + 1))
        raise EngineError(f"cannot store telemetry ({last}); stopping without acknowledging the batch")

    def _store_one_by_one(self, raws: list[RawMessage]) -> IngestResult:
        """A batch failed on its content: store each message alone, so that one poison message is
        rejected (and logged) instead of blocking the queue forever."""
        total = IngestResult()
        for raw in raws:
            try:
                res = self._store([raw])
            except InvalidInput as e:
                with unit_of_work(self.engine) as session:
                    res = IngestResult()
                    reject(session, res, raw, Rejected("malformed", f"refused: {e.message}"[:500]))
                    bump_counters(session, res.counts)
            total.counts.update(res.counts)
            total.alerts += res.alerts
        return total

    def flush(self) -> None:
        if not self._buf:
            return
        batch, self._buf = self._buf, []
        raws = [raw for _, raw in batch]
        try:
            res = self._store(raws)
        except InvalidInput as e:
            log.warning("a batch was refused (%s); storing its messages one by one", e)
            res = self._store_one_by_one(raws)
        self.stats.batches += 1
        self.stats.add(res)
        if self.after_commit is not None:
            self.after_commit(len(batch))
        for mid, _ in batch:
            self.client.ack(mid, 1)
        self.stats.acked += len(batch)

    def run(self, stop: threading.Event, max_seconds: float | None = None) -> ConsumerStats:
        """Consume until ``stop`` is set (or ``max_seconds`` pass); flushes the last batch."""
        self.connect()
        started = last_sweep = time.monotonic()
        try:
            while not stop.is_set():
                rc = self.client.loop(timeout=0.02)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    time.sleep(0.5)
                    self.client.reconnect()
                now = time.monotonic()
                if self._buf and (len(self._buf) >= self.batch_size or now - self._first_at >= self.max_wait):
                    self.flush()
                if now - last_sweep >= self.sweep_every:
                    last_sweep = now
                    with unit_of_work(self.engine) as session:
                        sweep_offline(session, policy=self.policy)
                if max_seconds is not None and now - started >= max_seconds:
                    break
            self.flush()
            self.client.loop(timeout=0.1)  # send the last acks
        except BaseException:
            self.abandon()  # like a crash: no DISCONNECT, unacknowledged messages stay with the broker
            raise
        self.client.disconnect()
        return self.stats

    def abandon(self) -> None:
        """Drop the connection without acknowledging buffered messages (a crash, for tests)."""
        self._buf = []
        sock = self.client.socket()
        if sock is not None:
            sock.close()


def publisher(host: str, port: int, client_id: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(host, port, keepalive=30)
    c.loop_start()
    return c
