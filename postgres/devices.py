"""The fleet view's PostgreSQL side: sequence bookkeeping at apply, and what is read per device.

Sequences (docs/design.md, "Sequences and the fleet view"): apply records each settled sale's
(device, sequence) once; a different sale with a number already taken is a conflict. Gaps are
derived on read, above each device's watermark (`sequence_marks`): every number up to it has
been received, so a read scans a device's sequences from its oldest open gap on, not all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.sale import Sale
from domain.sequences import Gap, gap_between

# One statement per batch. Numbers are inserted sorted, so overlapping batches lock the primary
# key in one order. A sale not inserted is a conflict unless the row that holds its number is its
# own (a sale applied again). The NOT EXISTS reads the statement's snapshot: rows of this statement
# are not in it (a same-batch holder is by definition another sale), and a racing worker's row for
# the same sale is, since that worker's sales insert made this transaction wait for its commit.
RECORD = text("""
WITH incoming AS (
    SELECT * FROM unnest(
        CAST(:devices AS varchar[]), CAST(:sequences AS bigint[]),
        CAST(:external_ids AS uuid[]), CAST(:received AS timestamptz[])
    ) AS t(device, sequence, external_id, received_at)
), taken AS (
    INSERT INTO device_sequences (device, sequence, external_id, received_at)
    SELECT device, sequence, external_id, received_at FROM incoming ORDER BY device, sequence, received_at, external_id
    ON CONFLICT (device, sequence) DO NOTHING
    RETURNING device, sequence, external_id
)
INSERT INTO sequence_conflicts (device, sequence, external_id, received_at)
SELECT i.device, i.sequence, i.external_id, i.received_at FROM incoming i
WHERE NOT EXISTS (
    SELECT 1 FROM taken t
    WHERE t.device = i.device AND t.sequence = i.sequence AND t.external_id = i.external_id
) AND NOT EXISTS (
    SELECT 1 FROM device_sequences d
    WHERE d.device = i.device AND d.sequence = i.sequence AND d.external_id = i.external_id
)
ORDER BY i.device, i.sequence
ON CONFLICT DO NOTHING
""")


def record_sequences(session: Session, sales: Iterable[Sale]) -> None:
    """Record the sequences of settled sales (applied or rejected); those without one cost nothing."""
    # Sorted: one lock order for overlapping batches; within a batch the earliest received keeps a number.
    numbered = sorted(
        (s for s in sales if s.sequence is not None), key=lambda s: (s.device, s.sequence, s.received_at, s.external_id)
    )
    if not numbered:
        return
    session.execute(
        RECORD,
        {
            "devices": [s.device for s in numbered],
            "sequences": [s.sequence for s in numbered],
            "external_ids": [s.external_id for s in numbered],
            "received": [s.received_at for s in numbered],
        },
    )


# Consecutive received numbers above the watermark (lag's default: the watermark itself, so numbers
# missing just above it count); a gap opened when the first sale above it arrived.
GAPS = text("""
WITH numbered AS (
    SELECT s.device, s.sequence,
           lag(s.sequence, 1, coalesce(m.complete_through, 0))
               OVER (PARTITION BY s.device ORDER BY s.sequence) AS previous,
           min(s.received_at) OVER (PARTITION BY s.device ORDER BY s.sequence DESC) AS opened_at
    FROM device_sequences s LEFT JOIN sequence_marks m ON m.device = s.device
    WHERE s.device = ANY(CAST(:devices AS varchar[])) AND s.sequence > coalesce(m.complete_through, 0)
)
SELECT device, previous, sequence, opened_at FROM numbered
WHERE sequence - previous > 1
ORDER BY device, sequence
""")
HIGHEST = text("""
SELECT d.device, m.complete_through,
       (SELECT max(s.sequence) FROM device_sequences s WHERE s.device = d.device) AS highest,
       (SELECT count(*) FROM sequence_conflicts c WHERE c.device = d.device) AS conflicts
FROM unnest(CAST(:devices AS varchar[])) AS d(device)
LEFT JOIN sequence_marks m ON m.device = d.device
""")
ADVANCE = text("""
INSERT INTO sequence_marks (device, complete_through)
SELECT * FROM unnest(CAST(:devices AS varchar[]), CAST(:marks AS bigint[]))
ON CONFLICT (device) DO UPDATE
SET complete_through = greatest(sequence_marks.complete_through, excluded.complete_through)
""")


@dataclass(frozen=True)
class Sequences:
    highest: int | None  # None: the device never sent a numbered sale
    gaps: list[Gap]  # every open gap, however young (domain.sequences.overdue picks the missing)
    conflicts: int


def sequences(session: Session, devices: list[str]) -> dict[str, Sequences]:
    """Each device's sequence state; moves the watermarks up to below each device's first gap
    (numbers received are never removed, so a watermark only ever holds). Commit the session."""
    found: dict[str, list[Gap]] = {device: [] for device in devices}
    for row in session.execute(GAPS, {"devices": devices}):
        gap = gap_between(row.previous, row.sequence, row.opened_at)
        if gap is not None:
            found[row.device].append(gap)
    state, moved = {}, {}
    for row in session.execute(HIGHEST, {"devices": devices}):
        gaps = found[row.device]
        state[row.device] = Sequences(row.highest, gaps, row.conflicts)
        mark = gaps[0].first - 1 if gaps else row.highest
        if mark is not None and mark > (row.complete_through or 0):
            moved[row.device] = mark
    if moved:
        session.execute(ADVANCE, {"devices": list(moved), "marks": list(moved.values())})
    return state


@dataclass(frozen=True)
class Device:
    device: str
    store: str
    admin: bool
    active: bool  # holds an active token (else: every token revoked)
    created_at: datetime  # its newest token's: a till never seen is silent since then


def devices(session: Session, device: str | None = None) -> list[Device]:
    """Devices that hold or held a token, by name: the active token's store and admin flag, or
    the latest token's if all are revoked."""
    rows = session.execute(
        text("""
        SELECT DISTINCT ON (device) device, store, is_admin, revoked_at IS NULL AS active, created_at
        FROM api_tokens WHERE CAST(:device AS varchar) IS NULL OR device = :device
        ORDER BY device, revoked_at IS NULL DESC, id DESC
        """),
        {"device": device},
    )
    return [Device(r.device, r.store, r.is_admin, r.active, r.created_at) for r in rows]


@dataclass(frozen=True)
class Settled:
    applied: int = 0
    rejected: int = 0
    last_received_at: datetime | None = None  # of its applied or rejected sales
    clock_skew: float | None = None


SKEW_SAMPLE = 100  # the device's latest sales an estimate of its clock skew looks at

SETTLED = text("""
SELECT d.device, a.applied, a.last_applied, r.rejected, r.last_rejected, k.skew
FROM unnest(CAST(:devices AS varchar[])) AS d(device)
CROSS JOIN LATERAL (
    SELECT count(*) AS applied, max(received_at) AS last_applied FROM sales WHERE device = d.device
) a
CROSS JOIN LATERAL (
    SELECT count(*) AS rejected, max(received_at) AS last_rejected FROM rejected_sales WHERE device = d.device
) r
CROSS JOIN LATERAL (
    -- A sale sent without client_timestamp got received_at as its time: it says nothing of the clock.
    SELECT max(extract(epoch FROM recent.client_timestamp - recent.received_at)) AS skew FROM (
        SELECT client_timestamp, received_at FROM sales
        WHERE device = d.device AND client_timestamp <> received_at
        ORDER BY received_at DESC LIMIT :sample
    ) recent
) k
""")


def settled(session: Session, devices: list[str]) -> dict[str, Settled]:
    """Each device's applied and rejected sales, and its clock skew (domain.sequences.clock_skew's
    estimate, computed in the database over its SKEW_SAMPLE latest sales)."""
    found = {}
    for row in session.execute(SETTLED, {"devices": devices, "sample": SKEW_SAMPLE}):
        last = [at for at in (row.last_applied, row.last_rejected) if at is not None]
        skew = None if row.skew is None else float(row.skew)
        found[row.device] = Settled(row.applied, row.rejected, max(last, default=None), skew)
    return found
