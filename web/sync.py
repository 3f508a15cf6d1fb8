"""GET /api/sync/products/: tills pull the catalogue incrementally (postgres/sync.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from postgres import sync
from web.auth import authenticate
from web.catalog import product_views
from web.problems import invalid

blueprint = Blueprint("sync", __name__)
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000


@blueprint.get("/api/sync/products/")
def pull_products():
    """One page of the products changed since `cursor` (all of them without one), each as
    GET /api/products/<id>/ answers it. An ETag on the answer: an unchanged catalogue answers the
    same page, so a till sending If-None-Match gets 304 and no body."""
    authenticate()
    limit = page_size(request.args.get("limit"))
    try:
        cursor = sync.Cursor.decode(request.args["cursor"]) if request.args.get("cursor") else sync.Cursor()
    except sync.BadCursor as error:
        raise invalid([{"field": "cursor", "message": str(error)}]) from None
    with current_app.extensions["salesync"].sessions() as session:
        page = sync.pull(session, cursor, limit)
        products = product_views(session, page.products)
    response = jsonify({"products": products, "cursor": page.cursor.encode(), "has_more": page.has_more})
    response.add_etag()
    return response.make_conditional(request)


def page_size(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise invalid([{"field": "limit", "message": f"must be a whole number from 1 to {MAX_LIMIT}"}])
    return int(raw)
