"""`salesync check`: reconcile the Redis intake against PostgreSQL.

A sale is recorded in Redis (its record hash and a stream entry, written together) and is
applied when it is in PostgreSQL's `sales` or `rejected_sales`. The check reads, in this
order, the records still `queued`, the stream, then PostgreSQL: a sale settled while the check
runs is therefore found applied, never reported missing. A sale found applied, out of the stream
and still queued is read again last, so one settled mid-check is not reported unsettled either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from domain.batching import batched
from postgres.tables import RejectedSale, Sale
from redis_queue.intake import GROUP, Intake

PAGE = 1000


@dataclass(frozen=True)
class Unapplied:
    external_id: str
    device: str | None
    received_at: datetime
    age_seconds: float
    in_stream: bool  # False: recorded, not in the stream, not in PostgreSQL: it will never be applied
    attempts: int = 0


@dataclass(frozen=True)
class Consumer:
    name: str
    pending: int
    idle_seconds: float


@dataclass
class Reconciliation:
    backlog: int  # stream entries: recorded and not yet acknowledged by a worker
    pending: int  # of those, delivered to a worker and not yet acknowledged
    consumers: list[Consumer]
    unapplied: list[Unapplied] = field(default_factory=list)  # oldest first
    unsettled: list[str] = field(default_factory=list)  # in PostgreSQL, but Redis still says queued

    def problems(self, older_than: float) -> list[str]:
        """What needs a person: sales waiting longer than `older_than` seconds, and inconsistencies."""
        found = [
            f"sale {sale.external_id} recorded {sale.age_seconds:.0f} s ago is not applied"
            + ("" if sale.in_stream else " and is no longer in the stream: it will never be applied")
            for sale in self.unapplied
            if sale.age_seconds > older_than or not sale.in_stream
        ]
        return found + [
            f"sale {external_id} is applied but its Redis record still says queued and no stream "
            "entry is left to settle it"
            for external_id in self.unsettled
        ]


def check(intake: Intake, session: Session, now: datetime | None = None) -> Reconciliation:
    now = now or datetime.now(UTC)
    queued = _queued_records(intake)
    entries = _stream_ids(intake)
    in_stream = {external_id for external_id, _ in entries}
    applied = _in_postgresql(session, set(queued) | in_stream)
    report = Reconciliation(backlog=intake.backlog(), pending=0, consumers=_consumers(intake))
    report.pending = sum(consumer.pending for consumer in report.consumers)
    for external_id, entry_ms in entries:
        if external_id not in applied and external_id not in queued:  # its record expired or was deleted
            received = datetime.fromtimestamp(entry_ms / 1000, UTC)
            queued[external_id] = {"received_at": received.isoformat()}
    for external_id, record in queued.items():
        if external_id in applied:
            if external_id not in in_stream:
                report.unsettled.append(external_id)
            continue
        received = datetime.fromisoformat(record["received_at"])
        report.unapplied.append(
            Unapplied(
                external_id,
                record.get("device"),
                received,
                (now - received).total_seconds(),
                external_id in in_stream,
                int(record.get("attempts") or 0),
            )
        )
    report.unapplied.sort(key=lambda sale: sale.received_at)
    if report.unsettled:  # read queued before a worker settled it (and dropped its entry) while we read
        records = intake.statuses(report.unsettled)
        report.unsettled = [
            external_id for external_id in report.unsettled if records.get(external_id, {}).get("status") == "queued"
        ]
    return report


def _queued_records(intake: Intake) -> dict[str, dict]:
    """Every intake record whose status is still queued, by external_id."""
    found: dict[str, dict] = {}
    start = len(intake.record_key(""))
    fields = ("status", "device", "received_at", "attempts")
    for keys in batched(intake.redis.scan_iter(match=intake.record_key("*"), count=PAGE), PAGE):
        pipe = intake.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, *fields)
        for key, values in zip(keys, pipe.execute()):
            record = {name: value.decode() for name, value in zip(fields, values) if value is not None}
            if record.get("status") == "queued" and "received_at" in record:
                found[key.decode()[start:]] = record
    return found


def _stream_ids(intake: Intake) -> list[tuple[str, int]]:
    """(external_id, when the entry was added in Unix ms) of every stream entry, oldest first."""
    entries, start = [], "-"
    while True:
        page = intake.redis.xrange(intake.stream, min=start, count=PAGE)
        entries += [
            (fields[b"external_id"].decode(), int(entry_id.split(b"-")[0]))
            for entry_id, fields in page
            if b"external_id" in fields
        ]
        if len(page) < PAGE:
            return entries
        start = "(" + page[-1][0].decode()


def _in_postgresql(session: Session, external_ids: set[str]) -> set[str]:
    found: set[str] = set()
    for ids in batched(sorted(external_ids), PAGE):
        query = union_all(
            select(Sale.external_id).where(Sale.external_id.in_(ids)),
            select(RejectedSale.external_id).where(RejectedSale.external_id.in_(ids)),
        )
        found |= {str(external_id) for external_id in session.scalars(query)}
    return found


def _consumers(intake: Intake) -> list[Consumer]:
    if not intake.redis.exists(intake.stream):
        return []
    try:
        rows = intake.redis.xinfo_consumers(intake.stream, GROUP)
    except redis.ResponseError as error:
        if "NOGROUP" in str(error):  # no worker has read the stream yet
            return []
        raise
    return [Consumer(_text(row["name"]), int(row["pending"]), int(row["idle"]) / 1000) for row in rows]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
