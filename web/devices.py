"""The fleet view: GET /api/devices/ (admin) and GET /api/devices/<name>/ (admin, or the device).

Each device's figures come from Redis (last seen, sales still queued) and PostgreSQL (applied and
rejected sales, sequences, clock skew); docs/api.md describes the fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, current_app
from sqlalchemy.orm import Session, sessionmaker

from domain.sequences import overdue, ranges
from postgres import devices as pg
from postgres.statuses import timestamp
from redis_queue import devices as rq
from web.auth import authenticate
from web.problems import ProblemError

SILENT_AFTER = 3600.0  # seconds without a request after which a till counts as silent (metrics, dashboard)

blueprint = Blueprint("devices", __name__)


@blueprint.get("/api/devices/")
def list_devices():
    authenticate(admin=True)
    return fleet(), 200, {"Cache-Control": "no-store"}


@blueprint.get("/api/devices/<name>/")
def get_device(name: str):
    caller = authenticate()
    found = fleet(name) if caller.is_admin or caller.device == name else []
    if not found:  # another device's name answers as an unknown one: names are not disclosed
        raise ProblemError(404, "Not Found", f"No device {name} is known to this token.")
    return found[0], 200, {"Cache-Control": "no-store"}


def fleet(name: str | None = None) -> list[dict]:
    """Every device (or the one named), by name, as the API shows it."""
    res = current_app.extensions["salesync"]
    now = datetime.now(UTC)
    with res.sessions.begin() as session:  # begin: reading sequences moves their watermarks
        state = read(session, name)
    if not state.devices:
        return []
    prefix = res.settings.redis_prefix
    seen = rq.last_seen(res.redis, prefix)
    queued = rq.queued(res.redis, prefix, [d.device for d in state.devices])
    return [
        device_view(d, state, seen.get(d.device), queued[d.device], now, res.settings.gap_grace) for d in state.devices
    ]


@dataclass(frozen=True)
class State:
    devices: list[pg.Device]
    settled: dict[str, pg.Settled]
    sequences: dict[str, pg.Sequences]


def read(session: Session, name: str | None = None) -> State:
    found = pg.devices(session, name)
    names = [d.device for d in found]
    return State(found, pg.settled(session, names), pg.sequences(session, names))


def device_view(
    device: pg.Device, state: State, seen: float | None, queued: rq.Queued, now: datetime, grace: float
) -> dict:
    settled, numbered = state.settled[device.device], state.sequences[device.device]
    received = [at for at in (settled.last_received_at, _time(queued.newest)) if at is not None]
    return {
        "device": device.device,
        "store": device.store,
        "admin": device.admin,
        "active": device.active,
        "last_seen": timestamp(_time(seen)),
        "last_sale_received_at": timestamp(max(received, default=None)),
        "sales": {"queued": queued.count, "applied": settled.applied, "rejected": settled.rejected},
        "oldest_queued_seconds": None if queued.oldest is None else round(max(0.0, now.timestamp() - queued.oldest), 3),
        "highest_sequence": numbered.highest,
        "missing_sequences": ranges(overdue(numbered.gaps, now, grace)),
        "sequence_conflicts": numbered.conflicts,
        "clock_skew_seconds": None if settled.clock_skew is None else round(settled.clock_skew, 3),
    }


def _time(unix: float | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


@dataclass(frozen=True)
class FleetFigures:
    silent_tills: int  # active, non-admin devices without a request for SILENT_AFTER seconds
    open_gaps: int  # sequence ranges missing longer than the grace, over every device
    missing_sales: int  # the numbers in those ranges


def figures(sessions: sessionmaker[Session], client, prefix: str, grace: float) -> FleetFigures:
    """The fleet's figures for /metrics: cheaper than the view (no sales counted)."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        known = pg.devices(session)
        numbered = pg.sequences(session, [d.device for d in known])
    tills = [d for d in known if d.active and not d.admin]
    seen = rq.last_seen(client, prefix)
    silent = sum(
        1 for d in tills if now.timestamp() - max(seen.get(d.device, 0.0), d.created_at.timestamp()) > SILENT_AFTER
    )
    gaps = [gap for state in numbered.values() for gap in overdue(state.gaps, now, grace)]
    return FleetFigures(silent, len(gaps), sum(gap.size for gap in gaps))
