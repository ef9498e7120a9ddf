"""Telemetry load with a real MQTT broker: N devices at 1 message/s for S seconds, the consumer
(``zhikong facilities consume``, a separate process) killed with SIGKILL in the middle and restarted.

Reports: published, stored, duplicates, rejects (must be 0), lost (must be 0), alarms (one alert
delivery per fever message, none twice), and publish→stored latency (p50/p99/max; ``stored_at`` is
the time the batch was written, just before its commit), overall and outside the restart window,
with the ratio between the two.

    PYTHONPATH=src python benchmarks/bench_telemetry.py --devices 1000 --seconds 600
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from zhikong.core import config as config_mod
from zhikong.core.db import _engine_for, make_engine, session_factory, unit_of_work
from zhikong.core.migrate import upgrade


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--restart-at", type=float, default=0.5, help="Fraction of the run (0 = no restart).")
    ap.add_argument(
        "--fever-rate", type=float, default=0.002, help="Share of thermal readings that are fevers."
    )
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--database-url", default="", help="Default: SQLite in a temp dir.")
    ap.add_argument(
        "--drain-seconds",
        type=float,
        default=40.0,
        help="The restart window lasts from the kill until this long after the restart "
        "(the backlog queued by the broker is drained then).",
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="zk-bench-tel-"))
    env = dict(
        os.environ,
        ZHIKONG_DATA_DIR=str(tmp / "var"),
        ZHIKONG_SECRET_KEY="bench-secret-0123456789abcdef",
        PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"),
    )
    if args.database_url:
        env["ZHIKONG_DATABASE_URL"] = args.database_url
    os.environ.update({k: env[k] for k in ("ZHIKONG_DATA_DIR", "ZHIKONG_SECRET_KEY")})
    if args.database_url:
        os.environ["ZHIKONG_DATABASE_URL"] = args.database_url
    config_mod.get_settings.cache_clear()
    _engine_for.cache_clear()

    from zhikong.alerts.models import AlertDelivery
    from zhikong.facilities import service
    from zhikong.facilities.broker import LocalBroker
    from zhikong.facilities.models import Device, DeviceKind, Room, TelemetryMessage
    from zhikong.facilities.simulate import simulate
    from zhikong.facilities.telemetry import counters
    from zhikong.geo import service as geo
    from zhikong.geo.models import Place, PlaceKind
    from zhikong.geo.places import demo_places, import_places

    engine = make_engine(config_mod.get_settings().resolved_database_url)
    upgrade(engine)
    devices: list[tuple[str, DeviceKind]] = []
    with unit_of_work(engine) as s:
        geo.load_builtin(s)
        import_places(s, demo_places(geo.builtin_definition("500113")), file="demo")
        s.flush()
        places = s.scalars(
            select(Place).where(Place.kind == PlaceKind.ISOLATION_POINT).order_by(Place.id)
        ).all()
        facs = []
        for p in places:
            f = service.ensure_facility(s, p)
            service.add_building(s, f, "A", floors=2, rooms_per_floor=4)
            facs.append(f)
        rooms = s.scalars(select(Room).order_by(Room.id)).all()
        for i in range(args.devices):
            f = facs[i % len(facs)]
            kind = (
                DeviceKind.THERMAL_CAMERA
                if i % 20 == 0
                else DeviceKind.DOOR_SENSOR
                if i % 3 == 0
                else DeviceKind.CAMERA
            )
            room = (
                next((r.id for r in rooms if r.facility_id == f.id), None)
                if kind == DeviceKind.DOOR_SENSOR
                else None
            )
            code = f"BENCH-{i:05d}"
            s.add(Device(code=code, kind=kind, facility_id=f.id, room_id=room, name=code))
            devices.append((code, kind))
    print(
        f"data dir {tmp}; {len(devices)} devices "
        f"({sum(k == DeviceKind.THERMAL_CAMERA for _, k in devices)} thermal cameras)",
        flush=True,
    )

    with LocalBroker() as broker:
        log_path = tmp / "consumer.log"

        def start_consumer(n: int) -> subprocess.Popen[bytes]:
            fh = open(log_path.with_suffix(f".{n}.log"), "wb")  # noqa: SIM115
            p = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "zhikong",
                    "facilities",
                    "consume",
                    "--port",
                    str(broker.port),
                    "--client-id",
                    "bench-consumer",
                    "--batch-size",
                    str(args.batch_size),
                ],
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if b"subscribed" in log_path.with_suffix(f".{n}.log").read_bytes():
                    return p
                if p.poll() is not None:
                    raise SystemExit(f"consumer exited: {log_path.with_suffix(f'.{n}.log').read_text()}")
                time.sleep(0.1)
            raise SystemExit("consumer did not subscribe within 60 s")

        consumer = start_consumer(1)
        restart: dict[str, float] = {}

        def killer() -> None:
            nonlocal consumer
            time.sleep(args.seconds * args.restart_at)
            restart["kill"] = time.time()
            consumer.send_signal(signal.SIGKILL)
            consumer.wait()
            consumer = start_consumer(2)
            restart["up"] = time.time()
            print(
                f"consumer killed (SIGKILL) and restarted in {restart['up'] - restart['kill']:.1f} s",
                flush=True,
            )

        if args.restart_at > 0:
            threading.Thread(target=killer, daemon=True).start()
        t0 = time.time()
        res = simulate(
            broker.host,
            broker.port,
            devices,
            seconds=args.seconds,
            fever_rate=args.fever_rate,
            client_id="bench-sim",
        )
        print(
            f"published {res.published} in {res.seconds:.1f} s ({res.published / res.seconds:.0f} msg/s), "
            f"fevers {res.fevers}, door openings {res.door_opens}",
            flush=True,
        )
        Session = session_factory(engine)
        deadline = time.monotonic() + 300
        stored = 0
        while time.monotonic() < deadline:
            with Session() as s:
                stored = s.scalar(select(func.count()).select_from(TelemetryMessage)) or 0
            if stored >= res.published:
                break
            time.sleep(1)
        time.sleep(2)
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(60)
    with Session() as s:
        c = counters(s)
        rows = s.execute(select(TelemetryMessage.device_at, TelemetryMessage.stored_at)).all()
        deliveries = (
            s.scalar(
                select(func.count())
                .select_from(AlertDelivery)
                .where(AlertDelivery.idempotency_key.like("tm:%"))
            )
            or 0
        )
    dev_at = np.array([r[0].timestamp() for r in rows])
    lat = np.array([(r[1] - r[0]).total_seconds() for r in rows])
    lost = res.published - len(rows)
    rejects = sum(c[k] for k in ("malformed", "unknown_device", "absurd_value", "clock_skew"))
    print(
        f"stored {len(rows)} (counter {c['stored']}), deliberate duplicates {c['duplicate']}, "
        f"rejected {rejects}, LOST {lost}"
    )
    print(
        f"fever messages {res.fevers}, alert deliveries {deliveries} (alarm raised twice: "
        f"{'yes' if deliveries > res.fevers else 'no'})"
    )

    def pct(a: np.ndarray) -> str:
        if not len(a):
            return "n/a"
        return (
            f"p50 {np.percentile(a, 50) * 1000:.0f} ms, p99 {np.percentile(a, 99) * 1000:.0f} ms, "
            f"max {a.max() * 1000:.0f} ms (n={len(a)})"
        )

    print(f"publish→stored, all messages: {pct(lat)}")
    if restart:
        win = (dev_at >= restart["kill"] - 1) & (dev_at <= restart["up"] + args.drain_seconds)
        steady = lat[~win]
        print(
            f"publish→stored, outside the restart window (kill … restart + {args.drain_seconds:.0f} s): "
            f"{pct(steady)}"
        )
        print(f"publish→stored, inside the restart window: {pct(lat[win])}")
        if len(steady):
            print(
                "ratio p99 all / p99 outside the window: "
                f"{np.percentile(lat, 99) / np.percentile(steady, 99):.2f}"
            )
    if len(lat):
        bucket = ((dev_at - dev_at.min()) // 10).astype(int)
        p99s = [float(np.percentile(lat[bucket == k], 99)) for k in np.unique(bucket)]
        print(
            f"10-second windows: {len(p99s)}, with p99 ≤ 1 s: {sum(x <= 1 for x in p99s)}, "
            f"≤ 2 s: {sum(x <= 2 for x in p99s)}"
        )
    print(f"run started {time.strftime('%H:%M:%S', time.gmtime(t0))} UTC; machine shared with other jobs")
    return 0 if lost == 0 and rejects == 0 and deliveries == res.fevers else 1


if __name__ == "__main__":
    sys.exit(main())
