"""A sale's fingerprint (web/sales.py) is stored in Redis and PostgreSQL and compared with every
retry's: a faster way to compute it must give the very same text for every body a client may send.

The implementation the fingerprint had when sales were first recorded is kept here as the
reference, and generated SaleIn bodies (every field, numbers as strings and as JSON numbers,
any text, huge ids, returns) are held against it. The same bodies check that the stream entry's
JSON (redis_queue/intake.py) reads back as the sale it always did.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.money import format_quantity
from domain.sale import SALE
from postgres.tokens import Caller
from redis_queue.intake import Intake
from web.body import parse, read_json
from web.problems import ProblemError
from web.sales import fingerprint, to_sale
from web.schemas import SaleIn

APP = Flask(__name__)
MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_fingerprint(body: SaleIn, caller: Caller) -> str:
    """web/sales.py's fingerprint as it was when the first sales were recorded, unchanged."""

    def plain(value):
        return format_quantity(value) if isinstance(value, Decimal) else str(value)

    left_out = {"kind"} if body.kind == SALE else None
    content = {"device": caller.device, **body.model_dump(exclude_none=True, exclude=left_out)}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=plain).encode()).hexdigest()


def reference_entry(sale, fingerprint: str) -> str:
    """The stream entry's JSON as redis_queue/intake.py wrote it before."""
    return json.dumps({**sale.to_dict(), "fingerprint": fingerprint}, separators=(",", ":"))


class Number:
    """A decimal to be written as a JSON number (not a string) in the generated body."""

    def __init__(self, value: Decimal):
        self.value = value


def to_json(value) -> str:
    marks: list[str] = []

    def number(item):
        marks.append(str(item.value))
        return f"\x01{len(marks) - 1}\x01"

    text = json.dumps(value, default=number)
    for n, mark in enumerate(marks):
        text = text.replace(f'"\\u0001{n}\\u0001"', mark)
    return text


# Any text but NUL (refused), lone surrogates included (JSON escapes can carry them).
texts = st.text(st.characters(exclude_characters="\x00", exclude_categories=()), min_size=1, max_size=30)
sku_texts = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=20).filter(str.strip)


def decimal(places: int, high: int):
    value = st.decimals(min_value=0, max_value=high, places=places, allow_nan=False, allow_infinity=False)
    # As a string (canonical, padded with zeros or spaces) or as a JSON number.
    return st.one_of(
        value.map(str),
        value.map(lambda d: f" {d:f}00" if "." in f"{d:f}" else f"{d:f}"),
        value.map(Number),
    )


quantities = decimal(3, 999_999).filter(lambda q: Decimal(q.value if isinstance(q, Number) else q) > 0)
prices = decimal(4, 10**8)
uuids = st.uuids().flatmap(lambda u: st.sampled_from([str(u), str(u).upper(), u.hex, f"urn:uuid:{u}"]))
times = st.builds(
    lambda t, minutes, z: (t.replace(tzinfo=timezone(timedelta(minutes=minutes)))).isoformat().replace("+00:00", z),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
    st.sampled_from(["+00:00", "Z"]),
)
product_data = st.fixed_dictionaries(
    {"sku": sku_texts, "name": sku_texts, "is_volatile": st.booleans()},
    optional={"unit_price": prices, "reorder_level": decimal(3, 10**8)},
)
by_id = st.fixed_dictionaries(
    {"product": st.one_of(st.integers(1, 10**6), st.integers(2**62, 2**80)), "quantity": quantities},
    optional={"unit_price": prices, "subtotal": st.just("9.99")},
)
new_product = st.fixed_dictionaries(
    {"product_data": product_data, "quantity": quantities, "unit_price": prices},
)


@st.composite
def bodies(draw) -> dict:
    kind = draw(st.sampled_from([None, "sale", "return"]))
    items = draw(st.lists(by_id if kind == "return" else st.one_of(by_id, new_product), min_size=1, max_size=3))
    body: dict = {"items": items}
    for name, values in (
        ("external_id", uuids),
        ("source_device", texts),
        ("client_timestamp", times),
        ("sequence", st.integers(1, 2**62)),
        ("total", st.just("12.00")),
    ):
        if draw(st.booleans()):
            body[name] = draw(values)
    if kind is not None:
        body["kind"] = kind
    if kind == "return" and draw(st.booleans()):
        body["original_external_id"] = draw(uuids)
    return body


def parsed(body: dict) -> SaleIn:
    with APP.test_request_context("/", method="POST", data=to_json(body), content_type="application/json"):
        try:
            return parse(SaleIn, read_json())
        except ProblemError:
            assume(False)  # the generator's rare invalid body (a price too precise for a line)
            raise


devices = st.one_of(st.just("till-1"), texts)


@MANY
@given(bodies(), devices)
def test_the_fingerprint_is_byte_for_byte_the_one_stored_before(body, device):
    sale_in, caller = parsed(body), Caller(device=device, is_admin=False)
    assert fingerprint(sale_in, caller) == reference_fingerprint(sale_in, caller)


@MANY
@given(bodies(), devices)
def test_the_stream_entry_reads_back_as_the_sale_it_always_did(body, device):
    sale_in, caller = parsed(body), Caller(device=device, is_admin=False)
    sale, print_ = to_sale(sale_in, caller, datetime.now(UTC)), fingerprint(sale_in, caller)
    intake = Intake.__new__(Intake)  # only its key names are needed to build a call
    intake.prefix, intake.stream, intake.kick_key, intake.max_queued, intake.high_water = "p:", "p:sales", "k", 1, 0.8
    _, args = intake._record_call([(sale, print_)])
    assert json.loads(args[4 + 4]) == json.loads(reference_entry(sale, print_))


def test_a_known_sale_keeps_its_known_fingerprint():
    """Pinned: the fingerprint of one body, as computed when sales were first recorded."""
    body = parsed(
        {
            "external_id": str(uuid.UUID("7c85890c-d9a7-48c0-851f-cd573c05d219")),
            "source_device": "Kasse 3 – Café",
            "client_timestamp": "2026-03-01T10:15:00+01:00",
            "items": [
                {"product": 12, "quantity": Number(Decimal("1.500")), "unit_price": "2.50"},
                {
                    "product_data": {"sku": "N-1", "name": "Neu", "is_volatile": True},
                    "quantity": "2",
                    "unit_price": "1",
                },
            ],
            "sequence": 42,
        }
    )
    caller = Caller(device="till-1", is_admin=False)
    assert fingerprint(body, caller) == reference_fingerprint(body, caller) == KNOWN


KNOWN = "2a722431b5cde9f629ca33b8f0cd94ed710fa2f2834c852f2318427db7faf167"
