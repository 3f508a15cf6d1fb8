"""Rejected sales for operators: list them, and replay them once what made them fail is fixed.

A replayed sale leaves `rejected_sales` and goes back into the intake stream as it was first
queued (same payload, same fingerprint), its intake record reset to `queued` with no failed
attempts, so a worker applies it like any other queued sale. Nothing else is touched: a sale
that fails again is rejected (or set aside) again, with its new reason.
"""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from postgres.apply import SET_ASIDE
from postgres.tables import RejectedSale
from redis_queue.devices import queued_key
from redis_queue.intake import Intake


def rejected(session: Session, set_aside_only: bool = False) -> list[RejectedSale]:
    """Rejected sales, oldest first; with `set_aside_only`, those set aside after repeated failures."""
    query = select(RejectedSale).order_by(RejectedSale.received_at, RejectedSale.external_id)
    if set_aside_only:
        query = query.where(RejectedSale.reason.startswith(SET_ASIDE, autoescape=True))
    return list(session.scalars(query))


def replay(session: Session, intake: Intake, external_ids: list[str]) -> list[str]:
    """Requeue these rejected sales; returns the external_ids replayed (the others were not rejected).

    The rows are deleted in the caller's transaction, and the sales are queued in Redis before it
    commits: if Redis fails, nothing changed; if the commit fails, apply still finds the sale
    rejected and leaves it so."""
    rows = list(
        session.scalars(
            select(RejectedSale)
            .where(RejectedSale.external_id.in_(external_ids))
            .order_by(RejectedSale.received_at)
            .with_for_update()
        )
    )
    if not rows:
        return []
    session.execute(delete(RejectedSale).where(RejectedSale.external_id.in_([row.external_id for row in rows])))
    session.flush()
    pipe = intake.redis.pipeline(transaction=True)
    for row in rows:
        raw = {**row.sale, "external_id": row.external_id}
        record = {
            "device": row.device,
            "received_at": raw.get("received_at") or row.received_at.isoformat(),
            "status": "queued",
        }
        if row.fingerprint or raw.get("fingerprint"):
            record["fingerprint"] = row.fingerprint or raw["fingerprint"]
        key = intake.record_key(row.external_id)
        pipe.delete(key)  # drops the rejected status, its error and the failed-attempts count
        pipe.hset(key, mapping=record)
        pipe.xadd(intake.stream, {"external_id": row.external_id, "sale": json.dumps(raw, separators=(",", ":"))})
        pipe.zadd(queued_key(intake.prefix, row.device), {row.external_id: row.received_at.timestamp()})
    pipe.execute()
    return [row.external_id for row in rows]
