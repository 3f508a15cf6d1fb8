"""Per-device sequences (gaps opened and closed, the grace, conflicts) and the fleet view
(GET /api/devices/): its fields, who may see what, and last_seen."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from postgres import tokens
from postgres.apply import apply_isolating
from postgres.tables import DeviceSequence, SequenceMark
from redis_queue.devices import last_seen_key
from tests.builders import add_product, add_store, issue_tokens, line, record, sale
from web.app import create_app


def drain(intake, sessions) -> None:
    """Apply everything queued, as a worker's drain does."""
    while entries := intake.claim("worker-a", 100, 60_000):
        intake.settle(entries, apply_isolating(sessions, [entry.sale for entry in entries], datetime.now(UTC)))


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def numbered(product: int, sequence: int, received_minutes_ago: float, device="till-1", **more) -> dict:
    return sale(line(product), device=device, sequence=sequence, received_at=ago(received_minutes_ago), **more)


def view(client, headers, device="till-1") -> dict:
    answer = client.get(f"/api/devices/{device}/", headers=headers)
    assert answer.status_code == 200, answer.json
    return answer.json


@pytest.fixture
def product(sessions) -> int:
    return add_product(sessions, "TEA", unit_price="2", stock="100")


def test_a_gap_is_missing_once_open_longer_than_the_grace_and_closes_when_its_sales_arrive(
    intake, sessions, client, auth_headers, product
):
    admin = auth_headers["admin"]
    for raw in (numbered(product, 1, 30), numbered(product, 4, 20), numbered(product, 7, 1)):
        record(intake, raw)
    drain(intake, sessions)

    first = view(client, admin)
    # 2..3 open since 4 arrived, 20 min ago: past the 10 min grace; 5..6 only for a minute.
    assert (first["highest_sequence"], first["missing_sequences"]) == (7, [[2, 3]])
    assert first["sequence_conflicts"] == 0

    for raw in (numbered(product, 2, 0), numbered(product, 3, 0)):
        record(intake, raw)
    drain(intake, sessions)
    assert view(client, admin)["missing_sequences"] == []
    with sessions() as session:  # every number up to 4 arrived: later reads start above it
        assert session.get(SequenceMark, "till-1").complete_through == 4

    later = create_app(client.application.extensions["salesync"].settings.model_copy(update={"gap_grace": 30}))
    assert view(later.test_client(), admin)["missing_sequences"] == [[5, 6]]  # a shorter grace


def test_numbers_below_the_first_received_are_missing_too(intake, sessions, client, auth_headers, product):
    record(intake, numbered(product, 3, 15))
    drain(intake, sessions)

    assert view(client, auth_headers["admin"])["missing_sequences"] == [[1, 2]]


def test_a_second_sale_with_a_taken_number_is_a_conflict_counted_once(intake, sessions, client, auth_headers, product):
    first, second = numbered(product, 1, 5), numbered(product, 1, 4)
    for raw in (first, second):
        record(intake, raw)
    drain(intake, sessions)
    # Applied again (their records expired, say): neither the sale nor its conflict counts twice.
    apply_isolating(sessions, [first, second], datetime.now(UTC))

    found = view(client, auth_headers["admin"])
    assert (found["highest_sequence"], found["sequence_conflicts"], found["sales"]["applied"]) == (1, 1, 2)
    with sessions() as session:
        assert session.get(DeviceSequence, ("till-1", 1)).external_id == first["external_id"]


def test_two_devices_number_their_sales_independently(intake, sessions, client, auth_headers, product):
    for raw in (numbered(product, 1, 5), numbered(product, 1, 5, device="till-2")):
        record(intake, raw)
    drain(intake, sessions)

    assert [view(client, auth_headers["admin"], d)["sequence_conflicts"] for d in ("till-1", "till-2")] == [0, 0]


def test_a_rejected_sale_takes_its_number_and_sales_without_one_are_not_tracked(
    intake, sessions, client, auth_headers, product
):
    unknown = sale(line(999_999), sequence=1, received_at=ago(20))  # rejected: no such product
    for raw in (unknown, sale(line(product)), numbered(product, 2, 20)):
        record(intake, raw)
    drain(intake, sessions)

    found = view(client, auth_headers["admin"])
    assert found["sales"] == {"queued": 0, "applied": 2, "rejected": 1}
    assert (found["highest_sequence"], found["missing_sequences"]) == (2, [])
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DeviceSequence)) == 2


def test_a_device_without_numbered_sales_shows_none(client, auth_headers):
    found = view(client, auth_headers["till-2"], "till-2")

    assert found["highest_sequence"] is None and found["missing_sequences"] == []
    assert found["clock_skew_seconds"] is None and found["last_sale_received_at"] is None
    assert found["sales"] == {"queued": 0, "applied": 0, "rejected": 0} and found["oldest_queued_seconds"] is None


def test_the_device_view_follows_a_sale_from_queued_to_applied(intake, sessions, client, auth_headers, product):
    ahead = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()  # the till's clock runs 30 s ahead
    bodies = [
        {
            "external_id": str(uuid.uuid4()),
            "client_timestamp": ahead,
            "sequence": n,
            "items": [{"product": product, "quantity": "1"}],
        }
        for n in (1, 2)
    ]
    for body in bodies:
        assert client.post("/api/sales/", json=body, headers=auth_headers["till-1"]).status_code == 202
    time.sleep(0.02)

    queued = view(client, auth_headers["till-1"])
    assert queued["sales"] == {"queued": 2, "applied": 0, "rejected": 0}
    assert 0 < queued["oldest_queued_seconds"] < 60
    assert queued["last_sale_received_at"] is not None and queued["last_seen"] is not None
    assert queued["highest_sequence"] is None  # counted once applied
    assert (queued["device"], queued["store"], queued["admin"], queued["active"]) == ("till-1", "main", False, True)

    drain(intake, sessions)
    applied = view(client, auth_headers["till-1"])
    assert applied["sales"] == {"queued": 0, "applied": 2, "rejected": 0}
    assert applied["oldest_queued_seconds"] is None and applied["highest_sequence"] == 2
    assert applied["clock_skew_seconds"] == pytest.approx(30, abs=5)
    assert applied["last_sale_received_at"] == queued["last_sale_received_at"]


def test_a_sale_without_client_timestamp_says_nothing_of_the_clock(intake, sessions, client, auth_headers, product):
    body = {"items": [{"product": product, "quantity": "1"}]}
    assert client.post("/api/sales/", json=body, headers=auth_headers["till-1"]).status_code == 202
    drain(intake, sessions)

    assert view(client, auth_headers["admin"])["clock_skew_seconds"] is None


def test_who_may_see_which_device(client, auth_headers):
    till, admin = auth_headers["till-1"], auth_headers["admin"]

    assert client.get("/api/devices/", headers=till).status_code == 403
    assert client.get("/api/devices/till-2/", headers=till).status_code == 404  # like another device's sale
    assert client.get("/api/devices/nobody/", headers=admin).status_code == 404
    assert client.get("/api/devices/").status_code == 401
    assert client.get("/api/devices/till-1/", headers=till).status_code == 200
    listed = client.get("/api/devices/", headers=admin).json
    assert [d["device"] for d in listed] == ["admin", "till-1", "till-2"]
    assert [d["admin"] for d in listed] == [True, False, False]


def test_a_device_whose_tokens_are_all_revoked_is_listed_inactive_with_its_latest_store(
    sessions, settings, redis_client, client, auth_headers
):
    add_store(sessions, "S2")
    issue_tokens(sessions, redis_client, settings.redis_prefix, "till-9", store="S2")
    with sessions.begin() as session:
        tokens.revoke(session, "till-9", datetime.now(UTC))

    listed = {d["device"]: d for d in client.get("/api/devices/", headers=auth_headers["admin"]).json}
    assert (listed["till-9"]["active"], listed["till-9"]["store"]) == (False, "S2")
    assert listed["till-1"]["active"] is True


def test_last_seen_is_the_last_authenticated_request_written_at_most_every_few_seconds(
    client, auth_headers, settings, redis_client
):
    before = time.time()
    client.get("/api/devices/till-2/", headers=auth_headers["till-2"])
    first = float(redis_client.hget(last_seen_key(settings.redis_prefix), "till-2"))
    client.get("/api/devices/till-2/", headers=auth_headers["till-2"])  # within the few seconds: not written

    assert before - 1 <= first <= time.time()
    assert float(redis_client.hget(last_seen_key(settings.redis_prefix), "till-2")) == first
    seen = datetime.fromisoformat(view(client, auth_headers["admin"], "till-2")["last_seen"])
    assert seen.timestamp() == pytest.approx(first, abs=0.001)


def test_a_sale_the_database_refuses_alone_still_counts_its_number(intake, sessions, client, auth_headers):
    edge = "-" + "9" * 35  # at the edge of the stock column: one more large sale is out of range
    juice = add_product(sessions, "JUICE-1L", stock=edge)
    tea = add_product(sessions, "TEA", stock="10")
    record(intake, sale(line(tea), device="till-1", sequence=1, received_at=ago(30)))
    record(intake, sale(line(juice, quantity="999999"), device="till-1", sequence=2, received_at=ago(30)))
    record(intake, sale(line(tea), device="till-1", sequence=3, received_at=ago(30)))
    drain(intake, sessions)

    found = view(client, auth_headers["admin"])
    assert (found["sales"]["rejected"], found["highest_sequence"], found["missing_sequences"]) == (1, 3, [])
