"""A sale's intake record expires (SALESYNC_RECORD_TTL), then its external_id comes back.

Within the TTL, intake answers a different payload under a known external_id with 422. After it,
Redis alone cannot tell; apply compares the post with the sale PostgreSQL holds, so a different
sale is refused visibly, the original stays as it was, and an identical re-post is applied once.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.e2e.conftest import Api
from tests.e2e.faults import issue_stack_tokens

pytestmark = pytest.mark.e2e


def test_a_post_after_the_record_expired_is_refused_if_different_and_applied_once_if_identical(stack_factory):
    stack = stack_factory("expiry", SALESYNC_RECORD_TTL="2")
    names = {name: f"{name}-{uuid.uuid4().hex[:6]}" for name in ("till-1", "till-2")}
    issued = issue_stack_tokens(stack, *names.values())
    till_1, till_2 = (Api(stack.url, issued[names[name]]) for name in ("till-1", "till-2"))
    admin = Api(stack.url, stack.token)
    product = admin.post(
        "/api/products/",
        {"sku": f"JUICE-{uuid.uuid4().hex[:6]}", "name": "Juice", "stock": "100", "unit_price": "1.00"},
    ).json()["id"]
    external_id = str(uuid.uuid4())
    original = {"external_id": external_id, "items": [{"product": product, "quantity": "1"}]}
    assert till_1.post("/api/sales/", original).status_code == 202
    assert till_1.settled(external_id)["status"] == "applied"
    assert till_1.post("/api/sales/", {**original, "items": [{"product": product, "quantity": "7"}]}).status_code == 422
    time.sleep(3)  # the record expires

    for till in (till_1, till_2):  # a different payload from the same device, then the same from another
        other = {**original, "items": [{"product": product, "quantity": "7"}]}
        assert till.post("/api/sales/", other).status_code == 202  # Redis alone can no longer tell
        refused = till.settled(external_id)
        assert refused["status"] == "rejected", refused
        assert refused["error"].startswith("external_id already used on "), refused
        if till is till_2:  # meanwhile the original is shown, as it was, to its own device
            kept = till_1.get(f"/api/sales/{external_id}/").json()
            assert (kept["status"], kept["sale"]["items"][0]["quantity"]) == ("applied", "1"), kept
        time.sleep(3)  # that refusal's record expires too

    assert till_1.post("/api/sales/", original).status_code == 202  # a till back after a long time
    assert till_1.settled(external_id)["status"] == "applied"
    assert till_1.post("/api/sales/", original).status_code == 200
    stock = admin.get(f"/api/products/{product}/").json()["stock"]
    assert stock == "99"  # one sale of 1, never 7, never twice
