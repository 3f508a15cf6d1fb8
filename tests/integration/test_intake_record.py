"""Recording many sales at once (Intake.record_many, record_sale.lua), against a real Redis: a
batch longer than one script run (RECORD_CHUNK) is recorded in order, each sale on its own."""

from __future__ import annotations

from domain.sale import Sale
from redis_queue.intake import RECORD_CHUNK, Intake
from tests.builders import fingerprint, line, sale


def sales(count: int) -> list[dict]:
    return [sale(line(1, quantity=str(n % 7 + 1))) for n in range(count)]


def pairs(raws: list[dict]) -> list[tuple[Sale, str]]:
    return [(Sale.from_dict(raw), fingerprint(raw)) for raw in raws]


def test_a_long_batch_is_recorded_in_order_across_script_runs(intake, redis_client):
    raws = sales(2 * RECORD_CHUNK + 50)
    raws[RECORD_CHUNK + 30] = raws[20]  # a repeat, in a later run than its first
    changed = dict(raws[40], source_device="another till")  # the same id, another payload
    raws[2 * RECORD_CHUNK + 10] = changed
    before = redis_client.xlen(intake.stream)

    recorded = intake.record_many(pairs(raws))

    outcomes = [r.outcome for r in recorded]
    assert len(recorded) == len(raws)
    assert outcomes[RECORD_CHUNK + 30] == "repeat" and recorded[RECORD_CHUNK + 30].record["status"] == "queued"
    assert outcomes[2 * RECORD_CHUNK + 10] == "conflict"
    assert outcomes.count("new") == len(raws) - 2
    assert redis_client.xlen(intake.stream) == before + len(raws) - 2
    entries = redis_client.xrange(intake.stream)[-(len(raws) - 2) :]
    new_ids = [raw["external_id"] for raw, outcome in zip(raws, outcomes) if outcome == "new"]
    assert [fields[b"external_id"].decode() for _, fields in entries] == new_ids
    assert sum(r.kick for r in recorded) <= 1  # one drain kick at most, on a new sale


def test_the_stream_bound_stops_new_sales_mid_batch_and_still_answers_repeats(redis_client, settings):
    first = sales(3)
    probe = Intake(redis_client, settings.redis_prefix, settings.record_ttl, max_queued=1)
    probe.record_many(pairs(first))  # makes sure the stream exists
    room = redis_client.xlen(probe.stream) + 5
    intake = Intake(redis_client, settings.redis_prefix, settings.record_ttl, max_queued=room)
    raws = [first[0], *sales(RECORD_CHUNK + 20)]

    recorded = intake.record_many(pairs(raws))

    outcomes = [r.outcome for r in recorded]
    assert outcomes[0] == "repeat"
    assert outcomes[1:6] == ["new"] * 5
    assert {r.full for r in recorded[6:]} == {"queue"} and set(outcomes[6:]) == {"full"}
    assert redis_client.xlen(intake.stream) == room
