"""The Redis stream between intake and apply: nothing is lost when a worker dies before acknowledging."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from postgres.apply import MAX_ATTEMPTS, SystemFailure, apply_isolating
from postgres.tables import Sale as SaleRow
from redis_queue.intake import GROUP
from tests.builders import add_product, line, record, sale, stock
from web import views

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def drain_once(intake, sessions, consumer, count=100, reclaim_after_ms=60_000) -> int:
    entries = intake.claim(consumer, count, reclaim_after_ms)
    if entries:
        statuses = apply_isolating(sessions, [entry.sale for entry in entries], NOW)
        intake.settle(entries, statuses)
    return len(entries)


def test_a_recorded_sale_is_queued_once_and_a_repeat_is_recognised(intake):
    raw = sale(line(1))

    first, again = record(intake, raw), record(intake, raw)

    assert (first.outcome, again.outcome) == ("new", "repeat")
    assert again.record["status"] == "queued"
    assert intake.backlog() == 1


def test_entries_a_consumer_took_but_never_acknowledged_come_back_to_it_first(intake):
    for _ in range(3):
        record(intake, sale(line(1)))
    taken = intake.claim("worker-a", 2, 60_000)
    record(intake, sale(line(1)))

    again = intake.claim("worker-a", 10, 60_000)

    assert [e.entry_id for e in again][:2] == [e.entry_id for e in taken]
    assert len(again) == 4  # then topped up with the unread ones


def test_a_dead_consumers_entries_are_taken_over_after_the_reclaim_time(intake):
    raw = sale(line(1))
    record(intake, raw)
    intake.claim("worker-dead", 10, 60_000)

    assert intake.claim("worker-b", 10, 60_000) == []  # still within its time: not taken
    time.sleep(0.3)
    taken = intake.claim("worker-b", 10, 200)
    assert [e.external_id for e in taken] == [raw["external_id"]]


def test_a_worker_dying_mid_batch_loses_nothing_and_doubles_nothing(intake, sessions):
    juice = add_product(sessions, "JUICE-1L", unit_price="1", stock="1000")
    raws = [sale(line(juice, quantity="2")) for _ in range(250)]
    for raw in raws:
        record(intake, raw)

    # worker-a applies a batch and dies before acknowledging it; its next batch dies before commit.
    entries = intake.claim("worker-a", 100, 60_000)
    apply_isolating(sessions, [entry.sale for entry in entries], NOW)
    intake.claim("worker-a", 100, 60_000)
    time.sleep(0.3)
    while drain_once(intake, sessions, "worker-b", reclaim_after_ms=200):
        pass

    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SaleRow)) == 250
        assert stock(session, juice) == Decimal(1000 - 2 * 250)
    assert intake.backlog() == 0
    assert {intake.status(raw["external_id"])["status"] for raw in raws} == {"applied"}


@pytest.mark.parametrize("device", ["till-1", "till-2"], ids=["same device", "another device"])
def test_a_different_sale_under_an_expired_external_id_is_refused_and_the_original_kept(intake, sessions, device):
    juice = add_product(sessions, "JUICE-1L", unit_price="1", stock="10")
    original = sale(line(juice, quantity="1"), device="till-1")
    other = {**sale(line(juice, quantity="7"), device=device), "external_id": original["external_id"]}
    record(intake, original)
    drain_once(intake, sessions, "worker-a")
    intake.redis.delete(intake.record_key(original["external_id"]))  # expired, or a Redis that lost data

    assert record(intake, other).outcome == "new"  # Redis alone can no longer tell
    drain_once(intake, sessions, "worker-a")

    refused = views.sale_records(intake, sessions, [original["external_id"]], device)[original["external_id"]]
    assert (refused["status"], refused["device"]) == ("rejected", device)
    used_on = original["received_at"][:10]
    assert refused["error"].startswith(f"external_id already used on {used_on} for a different sale"), refused
    with sessions() as session:
        assert stock(session, juice) == Decimal("9")  # the original's 1, not 7
        assert session.scalar(select(func.count()).select_from(SaleRow)) == 1
    if device != "till-1":  # the original stays visible to its own device, as it was
        kept = views.sale_records(intake, sessions, [original["external_id"]], "till-1")[original["external_id"]]
        assert kept["status"] == "applied" and kept["sale"]["items"][0]["quantity"] == "1"
        assert kept["sale"]["device"] == "till-1"


def test_an_identical_repost_after_its_record_expired_is_applied_once(intake, sessions):
    juice = add_product(sessions, "JUICE-1L", unit_price="1", stock="10")
    original = sale(line(juice, quantity="1"), device="till-1")
    record(intake, original)
    drain_once(intake, sessions, "worker-a")
    intake.redis.delete(intake.record_key(original["external_id"]))  # a till offline past the record's TTL

    assert record(intake, original).outcome == "new"
    drain_once(intake, sessions, "worker-a")

    status = views.sale_records(intake, sessions, [original["external_id"]], "till-1")[original["external_id"]]
    assert status["status"] == "applied" and status["sale"]["items"][0]["quantity"] == "1"
    assert record(intake, original).outcome == "repeat"
    with sessions() as session:
        assert stock(session, juice) == Decimal("9")
        assert session.scalar(select(func.count()).select_from(SaleRow)) == 1


def test_a_sale_that_keeps_failing_is_set_aside_after_bounded_attempts_without_holding_up_others(intake, sessions):
    juice = add_product(sessions, "JUICE-1L", unit_price="1", stock="10")
    poison = sale(line(juice))
    poison["lines"][0]["quantity"] = "a lot"  # what no intake writes: a value apply cannot even read
    intake.redis.xadd(intake.stream, {"external_id": poison["external_id"], "sale": json.dumps(poison)})
    good = [sale(line(juice, quantity="1")) for _ in range(3)]
    for raw in good:
        record(intake, raw)

    drains = 0
    while intake.backlog() and drains < 20:
        entries = intake.claim("worker-a", 100, 60_000)
        drains += 1
        # Retried alone after its first batch, the poison gets the grace time (here over) and fails
        # as "ours" until its attempts are spent, staying pending as a worker's retried drain leaves it.
        try:
            statuses = apply_isolating(sessions, [e.sale for e in entries], NOW, failed=intake.count_failure, grace=0)
        except SystemFailure:
            continue
        intake.settle(entries, statuses)
        if drains == 1:
            assert {intake.status(g["external_id"])["status"] for g in good} == {"applied"}
            assert intake.status(poison["external_id"])["attempts"] == "1"

    assert drains == MAX_ATTEMPTS
    status = intake.status(poison["external_id"])
    assert status["status"] == "rejected"
    assert status["error"].startswith(f"set aside after {MAX_ATTEMPTS} failed attempts")
    with sessions() as session:
        assert stock(session, juice) == Decimal("7")


@pytest.mark.parametrize("count", [1, 2], ids=["a lone sale", "a batch"])
def test_a_batch_of_nothing_but_poison_waits_as_our_fault_then_is_set_aside_after_the_grace_time(
    intake, sessions, count
):
    """A quiet shop sends one sale at a time: during a bad deploy its lone sales get the same grace."""
    poisons = []
    for _ in range(count):  # every sale of the batch fails alone: it looks like a bad deploy
        poison = sale(line(1))
        poison["lines"][0]["quantity"] = "a lot"  # a value apply cannot even read
        intake.redis.xadd(intake.stream, {"external_id": poison["external_id"], "sale": json.dumps(poison)})
        poisons.append(poison["external_id"])

    def drain(grace: float) -> dict:
        entries = intake.claim("worker-a", 100, 60_000)
        statuses = apply_isolating(sessions, [e.sale for e in entries], NOW, failed=intake.count_failure, grace=grace)
        intake.settle(entries, statuses)
        return statuses

    for attempt in range(1, MAX_ATTEMPTS + 2):  # past the attempts bound, within the grace time: still queued
        with pytest.raises(SystemFailure):
            drain(grace=3600)
        assert {intake.status(eid)["attempts"] for eid in poisons} == {str(attempt)}
    assert intake.backlog() == count

    statuses = drain(grace=0)  # the grace time is over
    assert set(statuses) == set(poisons)
    assert intake.backlog() == 0
    for eid in poisons:
        status = intake.status(eid)
        assert status["status"] == "rejected"
        assert status["error"].startswith(f"set aside after {MAX_ATTEMPTS + 2} failed attempts")


def test_idle_consumers_holding_nothing_are_forgotten_and_one_holding_a_sale_is_kept(intake, sessions):
    for _ in range(2):
        record(intake, sale(line(1)))
    holding = intake.claim("worker-holding", 1, 60_000)  # a worker that died holding a sale
    assert len(holding) == 1
    drain_once(intake, sessions, "worker-done")  # one that finished its work
    assert intake.claim("worker-idle", 10, 60_000) == []  # one that found nothing
    time.sleep(0.01)

    assert intake.prune_consumers(idle_ms=3_600_000) == []  # none idle that long
    assert sorted(intake.prune_consumers(idle_ms=1)) == ["worker-done", "worker-idle"]
    consumers = {c["name"].decode(): c["pending"] for c in intake.redis.xinfo_consumers(intake.stream, GROUP)}
    assert consumers == {"worker-holding": 1}  # its sale stays pending, to be claimed by another


@pytest.mark.parametrize("lines", [2, 500], ids=["two lines", "500 lines"])
def test_a_settled_sale_keeps_a_small_record_in_redis_whatever_its_size(intake, sessions, lines):
    """Redis holds a queued sale whole (bounded by SALESYNC_MAX_BODY_BYTES), and a settled sale's
    record for SALESYNC_RECORD_TTL (30 days): the settled size is what bounds how many sales a day
    a given Redis holds (docs/operations.md, sizing Redis)."""
    juice = add_product(sessions, "JUICE-1L", unit_price="1", stock="10")
    raws = [sale(*[line(juice, quantity="1.5", unit_price="2.25")] * lines) for _ in range(20)]
    keys = [intake.record_key(raw["external_id"]) for raw in raws]
    for raw in raws:
        record(intake, raw)
    queued = (
        intake.redis.memory_usage(intake.stream, samples=0) + sum(intake.redis.memory_usage(key) for key in keys)
    ) / len(raws)
    while drain_once(intake, sessions, "worker-a"):
        pass

    settled = max(intake.redis.memory_usage(key) for key in keys)
    print(f"redis bytes per sale of {lines} lines: queued {queued:.0f}, settled {settled}")
    assert {intake.status(raw["external_id"])["status"] for raw in raws} == {"applied"}
    assert settled <= 320  # status, device, received_at, fingerprint: never the sale itself
    assert intake.redis.object("encoding", keys[0]) in (b"listpack", b"ziplist")  # Redis's compact encoding
