"""Replaying rejected sales: out of rejected_sales, back into the stream, applied once."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select, text

from postgres.apply import MAX_ATTEMPTS, SystemFailure, apply_isolating
from postgres.tables import Product, RejectedSale, StockLevel
from postgres.tables import Sale as SaleRow
from recovery import replay
from tests.builders import add_product, fingerprint, line, record, sale, stock

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def drain(intake, sessions) -> None:
    for _ in range(MAX_ATTEMPTS + 1):
        entries = intake.claim("worker-a", 100, 60_000)
        if not entries:
            return
        # grace=0: a lone failing sale is set aside once its attempts are spent (the grace time is over);
        # until then it fails as "ours" and stays pending, as a worker's retried drain would leave it.
        with contextlib.suppress(SystemFailure):
            intake.settle(
                entries, apply_isolating(sessions, [e.sale for e in entries], NOW, failed=intake.count_failure, grace=0)
            )


def test_a_rejected_sale_replayed_after_the_fix_is_applied_once_and_leaves_the_list(intake, sessions):
    juice = add_product(sessions, "JUICE-1L", unit_price="1", stock="10")
    missing = juice + 1000
    raw = sale(line(missing, quantity="2"))
    record(intake, raw)
    drain(intake, sessions)
    assert intake.status(raw["external_id"])["status"] == "rejected"
    with sessions() as session:
        assert [row.external_id for row in replay.rejected(session)] == [raw["external_id"]]
        assert replay.rejected(session, set_aside_only=True) == []  # refused, not set aside

    with sessions.begin() as session:  # the fix: the product the till knew exists now
        session.add(
            Product(
                id=missing,
                sku="LATE-1",
                name="Late",
                is_volatile=False,
                unit_price=Decimal("1"),
                reorder_level=Decimal(0),
            )
        )
        session.flush()
        session.add(StockLevel(product_id=missing, store="main", quantity=Decimal("5")))
    with sessions.begin() as session:
        assert replay.replay(session, intake, [raw["external_id"], "00000000-0000-0000-0000-000000000000"]) == [
            raw["external_id"]
        ]

    queued = intake.status(raw["external_id"])
    assert (queued["status"], queued["fingerprint"], "error" in queued) == ("queued", fingerprint(raw), False)
    drain(intake, sessions)
    assert intake.status(raw["external_id"])["status"] == "applied"
    with sessions() as session:
        assert stock(session, missing) == Decimal("3")
        assert session.scalars(select(RejectedSale)).all() == []
        assert len(session.scalars(select(SaleRow).where(SaleRow.external_id == raw["external_id"])).all()) == 1
    with sessions.begin() as session:
        assert replay.replay(session, intake, [raw["external_id"]]) == []  # applied: nothing to replay


def test_set_aside_sales_are_listed_apart_and_their_attempts_start_again_on_replay(intake, sessions):
    poison = sale(line(1))
    poison["lines"][0]["quantity"] = "a lot"  # what no intake writes: apply cannot even read it
    intake.redis.xadd(intake.stream, {"external_id": poison["external_id"], "sale": json.dumps(poison)})
    drain(intake, sessions)
    with sessions() as session:
        assert [row.external_id for row in replay.rejected(session, set_aside_only=True)] == [poison["external_id"]]

    with sessions.begin() as session:
        replay.replay(session, intake, [poison["external_id"]])
    assert "attempts" not in intake.status(poison["external_id"])
    entries = intake.claim("worker-a", 10, 60_000)
    assert [(e.external_id, e.sale["lines"][0]["quantity"]) for e in entries] == [(poison["external_id"], "a lot")]


def test_a_drain_during_a_replay_waits_for_it_and_applies_the_sale(intake, sessions):
    """The replay queues the sale before its DELETE commits; a drain reading the sale meanwhile
    must not find it still rejected (and settle it so, while the replay then deletes the row)."""
    juice = add_product(sessions, "JUICE-1L", unit_price="1", stock="10")
    raw = sale(line(juice + 1000))
    record(intake, raw)
    drain(intake, sessions)
    with sessions.begin() as session:
        session.add(
            Product(
                id=juice + 1000,
                sku="LATE-1",
                name="Late",
                is_volatile=False,
                unit_price=Decimal("1"),
                reorder_level=Decimal(0),
            )
        )
        session.flush()
        session.add(StockLevel(product_id=juice + 1000, store="main", quantity=Decimal("5")))

    replaying = sessions()
    replaying.begin()
    replay.replay(replaying, intake, [raw["external_id"]])  # queued in Redis, not yet committed
    worker = threading.Thread(target=drain, args=(intake, sessions))
    worker.start()
    deadline = time.monotonic() + 30
    with sessions() as session:  # until the drain is done, or waits on the replay's lock
        while (
            worker.is_alive()
            and time.monotonic() < deadline
            and not session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
        ):
            session.rollback()
            time.sleep(0.05)
    replaying.commit()
    replaying.close()
    worker.join(30)

    assert intake.status(raw["external_id"])["status"] == "applied"
    with sessions() as session:
        assert session.scalars(select(RejectedSale)).all() == []
        assert stock(session, juice + 1000) == Decimal("4")
