"""Sale intake and status: the request path touches Redis only."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from flask import Blueprint, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from domain.money import format_quantity
from domain.sale import SALE, Line, NewProduct, Sale, canonical_uuid
from postgres.tokens import Caller
from web import views
from web.auth import authenticate
from web.body import parse, read_json
from web.metrics import sales_recorded
from web.problems import ProblemError, http_problem, invalid, respond_problem
from web.schemas import MAX_BATCH, MAX_STATUS_IDS, SaleIn, StatusQueryIn
from web.views import status_body

blueprint = Blueprint("sales", __name__)
log = logging.getLogger(__name__)


@blueprint.post("/api/sales/")
def post_sale():
    caller = authenticate(limit=False)  # counted with the record, in the same Redis call
    try:
        body = parse(SaleIn, read_json())
    except ProblemError:
        current_app.extensions["salesync"].limiter.check(caller.device)  # a refused body counts too
        raise
    status, answer = accept(caller, [body], limited=True)[0]
    if status == 422:
        return respond_problem(answer)
    # The status URL (get_sale's route), written out: url_for costs more than the rest of the answer.
    headers = {"Location": f"{request.script_root}/api/sales/{answer['external_id']}/"} if status == 202 else {}
    return answer, status, headers


@blueprint.post("/api/sales/batch/")
def post_batch():
    """Many sales in one request: one answer per sale, in order, as POST /api/sales/ would give."""
    caller = authenticate()
    data = read_json()
    sales = data.get("sales") if isinstance(data, dict) else None
    if not isinstance(sales, list) or not sales:
        raise invalid([{"field": "sales", "message": "must be a non-empty list of sales"}])
    if len(sales) > MAX_BATCH:
        raise ProblemError(413, "Content Too Large", f"At most {MAX_BATCH} sales per batch; send the rest in another.")
    current_app.extensions["salesync"].limiter.check_sales(caller.device, len(sales))  # before parsing them
    answers: list[tuple[int, dict] | None] = [None] * len(sales)
    limit = current_app.extensions["salesync"].settings.max_body_bytes
    # Only a request over one sale's limit can hold a sale over it: the common path measures nothing.
    measure = request.content_length is None or request.content_length > limit
    valid = []
    for index, raw in enumerate(sales):
        if measure and compact_size(raw) > limit:  # alone, it would be refused before it was read
            answers[index] = (413, http_problem(RequestEntityTooLarge()).body())
            continue
        try:
            valid.append((index, parse(SaleIn, raw)))
        except ProblemError as problem:
            answers[index] = (problem.status, problem.body())
    for (index, _), answer in zip(valid, accept(caller, [body for _, body in valid])):
        answers[index] = answer
    return {"results": [{"status": status, "body": body} for status, body in filter(None, answers)]}


def compact_size(value: object) -> int:
    """Bytes of `value` as the most compact JSON (UTF-8, no spaces, numbers as their text)."""
    numbers = 0

    def number(value: Decimal) -> str:
        nonlocal numbers
        numbers += 1
        return str(value)  # dumped as a string: its two quotes are taken off below

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=number)
    return len(text.encode(errors="surrogatepass")) - 2 * numbers


def accept(caller: Caller, bodies: list[SaleIn], limited: bool = False) -> list[tuple[int, dict]]:
    """Record validated sales in Redis (one round trip however many) and answer each.
    `limited`: one sale, whose request is counted against the caller's rate limit in the same call."""
    if not bodies:
        return []
    now = datetime.now(UTC)
    sales = [to_sale(body, caller, now) for body in bodies]
    res = current_app.extensions["salesync"]
    pairs = [(sale, fingerprint(body, caller)) for sale, body in zip(sales, bodies)]
    if limited:
        recorded = [res.intake.record(*pairs[0], buckets=res.limiter.buckets(caller.device))]
        if recorded[0].outcome == "limited":
            raise res.limiter.refused(recorded[0].wait_ms)
        if recorded[0].outcome == "full":
            raise queue_full(res.settings.retry_after)
    else:
        recorded = res.intake.record_many(pairs)
    sales_recorded(sales, recorded)
    repeats = {sale.external_id: r.record for sale, r in zip(sales, recorded) if r.outcome == "repeat"}
    if any(record["status"] == "applied" and "sale" not in record for record in repeats.values()):
        repeats = views.with_sales(res.sessions, repeats)  # Redis keeps statuses, PostgreSQL the sales
        recorded = [
            replace(r, record=repeats[sale.external_id]) if r.outcome == "repeat" else r
            for sale, r in zip(sales, recorded)
        ]
    if res.settings.fault == "exit-after-record" and any(r.outcome == "new" for r in recorded):
        os._exit(1)  # fault injection: die between recording and handing over (docs/reliability.md)
    if any(r.kick for r in recorded):
        kick_drain(res.celery, res.settings.trigger_expires)
    return [answer(sale, r, res.settings.retry_after) for sale, r in zip(sales, recorded)]


def queue_full(retry_after: int) -> ProblemError:
    return ProblemError(
        503,
        "Service Unavailable",
        "The sales queue is full while earlier sales are applied; nothing was recorded, retry later.",
        headers={"Retry-After": str(retry_after)},
    )


def answer(sale: Sale, recorded, retry_after: int) -> tuple[int, dict]:
    if recorded.outcome == "full":
        return 503, queue_full(retry_after).body()
    if recorded.outcome == "conflict":
        return 422, ProblemError(
            422,
            "External ID already used",
            f"Sale {sale.external_id} was already received with a different payload; nothing was changed.",
        ).body()
    if recorded.outcome == "repeat":
        return 200, status_body(sale.external_id, recorded.record)
    return 202, {"external_id": sale.external_id, "status": "queued"}


@blueprint.get("/api/sales/<external_id>/")
def get_sale(external_id: str):
    caller = authenticate()
    res = current_app.extensions["salesync"]
    key = canonical_uuid(external_id)
    record = views.sale_records(res.intake, res.sessions, [key], viewer(caller)).get(key) if key else None
    status, body = sale_status(caller, external_id, key, record)
    return body if status == 200 else respond_problem(body)


@blueprint.post("/api/sales/status/")
def post_statuses():
    """Many sales' statuses in one request: one answer per id, in order, as GET /api/sales/<id>/ would give."""
    caller = authenticate()
    data = read_json()
    ids = data.get("external_ids") if isinstance(data, dict) else None
    if isinstance(ids, list) and len(ids) > MAX_STATUS_IDS:
        raise ProblemError(
            413, "Content Too Large", f"At most {MAX_STATUS_IDS} external_ids per request; ask for the rest in another."
        )
    ids = parse(StatusQueryIn, data).external_ids
    res = current_app.extensions["salesync"]
    keys = [canonical_uuid(external_id) for external_id in ids]
    records = views.sale_records(res.intake, res.sessions, [key for key in keys if key], viewer(caller))
    answers = [
        sale_status(caller, external_id, key, records.get(key) if key else None) for external_id, key in zip(ids, keys)
    ]
    return {"results": [{"status": status, "body": body} for status, body in answers]}


def viewer(caller: Caller) -> str | None:
    """Whose sales this caller sees: its device's, or (None) every device's for an admin."""
    return None if caller.is_admin else caller.device


def sale_status(caller: Caller, external_id: str, key: str | None, record: dict | None) -> tuple[int, dict]:
    """GET /api/sales/<external_id>/'s answer (`key`: the id as canonical_uuid spells it): the status
    body, or 404 for an unknown sale or another device's, the two not told apart."""
    if key is None or record is None or not (caller.is_admin or record["device"] == caller.device):
        return 404, ProblemError(404, "Not Found", f"No sale {external_id} is known to this token.").body()
    return 200, status_body(key, record)


def to_sale(body: SaleIn, caller: Caller, now: datetime) -> Sale:
    return Sale(
        external_id=str(body.external_id or uuid.uuid4()),
        device=caller.device,
        source_device=body.source_device or "web",
        client_timestamp=body.client_timestamp or now,
        received_at=now,
        lines=tuple(
            Line(
                quantity=item.quantity,
                unit_price=item.unit_price,
                product_id=item.product,
                new_product=None if item.product_data is None else NewProduct(**item.product_data.model_dump()),
            )
            for item in body.items
        ),
        store=caller.store,
        kind=body.kind,
        original_external_id=None if body.original_external_id is None else str(body.original_external_id),
        sequence=body.sequence,
    )


def _plain(value):
    return format_quantity(value) if isinstance(value, Decimal) else str(value)


# What json.dumps(content, sort_keys=True, default=_plain) builds on every call, built once: the
# same bytes (tests/unit/test_fingerprint.py), without a new encoder for every sale.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=_plain)


def fingerprint(body: SaleIn, caller: Caller) -> str:
    """Identity of a payload as the client sent it: a retry is the same, a changed sale is not.
    Server defaults (generated id, now) are left out, so a retry without them still matches.
    Stored in Redis and PostgreSQL: its text must never change for a sale already recorded."""
    # A sale's kind is left out, as before returns existed: a sale's fingerprint never changed.
    left_out = {"kind"} if body.kind == SALE else None
    content = {"device": caller.device, **body.model_dump(exclude_none=True, exclude=left_out)}
    return hashlib.sha256(_CANONICAL.encode(content).encode()).hexdigest()


def kick_drain(celery, expires: float) -> None:
    """Start a drain now rather than at the next beat tick; the sale is safe in Redis either way."""
    try:
        # The kwarg names it in Flower; a kick still queued when `expires` passes is dropped unrun.
        celery.send_task("salesync.drain", kwargs={"trigger": "kick"}, expires=expires)
    except Exception:
        log.warning("could not kick a drain; the beat schedule will pick the sale up", exc_info=True)
