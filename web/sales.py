"""Sale intake and status: the request path touches Redis only."""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from flask import Blueprint, current_app, url_for

from domain.money import format_quantity
from domain.sale import Line, NewProduct, Sale
from store import views
from store.tokens import Caller
from web.auth import authenticate
from web.body import parse, read_json
from web.problems import Problem
from web.schemas import SaleIn

blueprint = Blueprint("sales", __name__)
log = logging.getLogger(__name__)


@blueprint.post("/api/sales/")
def post_sale():
    caller = authenticate()
    body = parse(SaleIn, read_json())
    sale = to_sale(body, caller, datetime.now(timezone.utc))
    res = current_app.extensions["salesync"]
    recorded = res.intake.record(sale, fingerprint(body, caller))
    if recorded.outcome == "conflict":
        raise Problem(422, "External ID already used",
                      f"Sale {sale.external_id} was already received with a different payload; nothing was changed.")
    if recorded.outcome == "repeat":
        return status_body(sale.external_id, recorded.record), 200
    if recorded.kick:
        kick_drain(res.celery)
    location = url_for("sales.get_sale", external_id=sale.external_id)
    return {"external_id": sale.external_id, "status": "queued"}, 202, {"Location": location}


@blueprint.get("/api/sales/<external_id>/")
def get_sale(external_id: str):
    caller = authenticate()
    res = current_app.extensions["salesync"]
    key = canonical_uuid(external_id)
    record = res.intake.status(key) if key else None
    if record is None and key:
        with res.sessions() as session:
            record = (views.applied_sales(session, [key]) | views.rejected_sales(session, [key])).get(key)
    if record is None or not (caller.is_admin or record["device"] == caller.device):
        raise Problem(404, "Not Found", f"No sale {external_id} is known to this token.")
    return status_body(key, record)


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
    )


def fingerprint(body: SaleIn, caller: Caller) -> str:
    """Identity of a payload as the client sent it: a retry is the same, a changed sale is not.
    Server defaults (generated id, now) are left out, so a retry without them still matches."""
    def plain(value):
        return format_quantity(value) if isinstance(value, Decimal) else str(value)
    content = {"device": caller.device, **body.model_dump(exclude_none=True)}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=plain).encode()).hexdigest()


def status_body(external_id: str, record: dict) -> dict:
    body = {"external_id": external_id, "status": record["status"], "received_at": record["received_at"]}
    if record["status"] == "applied":
        body["sale"] = record["sale"] if isinstance(record["sale"], dict) else json.loads(record["sale"])
    elif record["status"] == "rejected":
        body["error"] = record["error"]
    return body


def canonical_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def kick_drain(celery) -> None:
    """Start a drain now rather than at the next beat tick; the sale is safe in Redis either way."""
    try:
        celery.send_task("salesync.drain")
    except Exception:
        log.warning("could not kick a drain; the beat schedule will pick the sale up", exc_info=True)
