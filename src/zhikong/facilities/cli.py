"""``zhikong facilities``: isolation points (list, admit, release, free-bed), follow-up sweep, the
MQTT telemetry consumer and a device simulator."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput, NotFound
from zhikong.facilities import followup, service, telemetry
from zhikong.facilities.models import Bed, Device
from zhikong.facilities.policy import load_policy
from zhikong.geo.models import AdminUnit

app = typer.Typer(
    help="集中隔离点、设备与测温 Isolation points, devices and thermal screening.", no_args_is_help=True
)
console = Console()


@app.command("list")
def list_cmd() -> None:
    """Capacity of every isolation point (beds, occupied, free)."""
    with unit_of_work() as session:
        rows = service.capacity(session)
    table = Table("id", "隔离点 isolation point", "床位 beds", "在住 occupied", "空床 free")
    for r in rows:
        table.add_row(str(r.facility_id), r.name, str(r.usable), str(r.occupied), str(r.free))
    table.add_row(
        "",
        "合计 total",
        str(sum(r.usable for r in rows)),
        str(sum(r.occupied for r in rows)),
        str(sum(r.free for r in rows)),
    )
    console.print(table)


@app.command()
def admit(
    person: int = typer.Option(..., "--person", help="Person id (ledger)."),
    bed: int | None = typer.Option(None, "--bed", help="Bed id; or give --facility."),
    facility: int | None = typer.Option(None, "--facility", help="Facility id: its first free bed."),
    key_person: int | None = typer.Option(None, "--key-person", help="Key-person registry id."),
    at: datetime | None = typer.Option(None, "--at", help="Admission time (local when no offset)."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML (default: built-in)."),
) -> None:
    """Admit a person to a bed for central quarantine (plan and test days from the policy)."""
    pol = load_policy(policy)
    with unit_of_work() as session:
        fu, stay = service.admit(
            session,
            "cli",
            person,
            bed_id=bed,
            facility_id=facility,
            at=at,
            key_person_id=key_person,
            policy=pol,
        )
        label = service.bed_label(session, session.get_one(Bed, stay.bed_id))
        tests = ", ".join(f"D{d} {day}" for d, day in followup.schedule(fu))
    console.print(
        f"follow-up {fu.id}: bed {label}, until {fu.planned_end_at:%Y-%m-%d %H:%M} UTC; tests {tests}"
    )


@app.command()
def release(
    followup_id: int = typer.Argument(..., help="Follow-up id."),
    at: datetime | None = typer.Option(None, "--at", help="Release time (local when no offset)."),
    reason: str = typer.Option("期满解除", "--reason"),
) -> None:
    """Release; after central quarantine the home village takes over (a task is created)."""
    with unit_of_work() as session:
        r = service.release(session, "cli", followup_id, at=at, reason=reason)
    nxt = (
        f"; then {r.next_followup.measure.value} (follow-up {r.next_followup.id})" if r.next_followup else ""
    )
    console.print(f"follow-up {followup_id} released{nxt}; village task {r.task_id or '—'}")


@app.command("free-bed")
def free_bed(near: str | None = typer.Option(None, "--near", help="Unit code: the nearest point.")) -> None:
    """Find a free bed, district-wide."""
    with unit_of_work() as session:
        unit_id = None
        if near:
            unit = session.scalar(select(AdminUnit).where(AdminUnit.code == near))
            if unit is None:
                raise InvalidInput(f"unknown administrative unit {near!r}", field="near")
            unit_id = unit.id
        fb = service.find_free_bed(session, None, unit_id)
    dist = f", {fb.distance_km} km" if fb.distance_km is not None else ""
    console.print(f"{fb.facility_name}: bed {fb.label} (id {fb.bed_id}){dist}; {fb.free_beds} free there")


@app.command()
def sweep() -> None:
    """Raise alerts for missing health checks and silent devices (safe to rerun)."""
    with unit_of_work() as session:
        missing = followup.sweep_missing(session)
        offline = telemetry.sweep_offline(session)
    console.print(f"missing-check alerts {missing}, devices gone offline {len(offline)}")


@app.command()
def counters() -> None:
    """Telemetry totals: stored, duplicate and each rejection reason."""
    with unit_of_work() as session:
        c = telemetry.counters(session)
    for k, v in c.items():
        console.print(f"{k:16} {v}")


@app.command()
def consume(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(1883, "--port"),
    client_id: str = typer.Option(
        "zhikong-facilities", "--client-id", help="Keep it fixed: the broker keeps the session for this id."
    ),
    batch_size: int = typer.Option(500, "--batch-size", min=1, max=10000),
    max_wait: float = typer.Option(0.2, "--max-wait", help="Seconds before a partial batch is stored."),
    seconds: float | None = typer.Option(None, "--seconds", help="Stop after this long (default: never)."),
) -> None:
    """Subscribe to device telemetry (MQTT 5, QoS 1, persistent session) and store it in batches;
    acknowledges each batch after its commit. Stops cleanly on SIGTERM/SIGINT."""
    from zhikong.facilities.mqtt import Consumer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    c = Consumer(host, port, client_id=client_id, batch_size=batch_size, max_wait=max_wait)
    stats = c.run(stop, max_seconds=seconds)
    console.print(
        f"received {stats.received}, batches {stats.batches}, acknowledged {stats.acked}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(stats.counts.items()))
    )


@app.command("simulate-devices")
def simulate_devices(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(1883, "--port"),
    devices: int = typer.Option(0, "--devices", help="Use the first N registered devices (0 = all)."),
    seconds: float = typer.Option(60.0, "--seconds"),
    period: float = typer.Option(1.0, "--period", help="Seconds between two messages of a device."),
    seq_start: int = typer.Option(0, "--seq-start", help="First sequence number (continue a run)."),
    fever_rate: float = typer.Option(0.001, "--fever-rate"),
) -> None:
    """Publish telemetry for the registered devices (heartbeats, temperatures, door events)."""
    from zhikong.facilities.simulate import simulate

    with unit_of_work() as session:
        stmt = select(Device.code, Device.kind).where(Device.active.is_(True)).order_by(Device.id)
        devs = [(c, k) for c, k in session.execute(stmt.limit(devices) if devices else stmt)]
    if not devs:
        raise NotFound("no devices registered; run `zhikong demo` or register devices first")
    res = simulate(
        host, port, devs, seconds=seconds, period=period, seq_start=seq_start, fever_rate=fever_rate
    )
    console.print(
        f"{len(devs)} devices: published {res.published} in {res.seconds:.1f} s "
        f"({res.fevers} fevers, {res.door_opens} door openings)"
    )
