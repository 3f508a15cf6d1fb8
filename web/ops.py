"""The ops dashboard: a static page (no data in it) and the admin-only JSON it draws.

The page itself holds nothing: it asks for an admin token, keeps it in the tab's
sessionStorage, and fetches GET /api/ops/overview/ with it like any API client.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory

from store import ops
from web.auth import authenticate

ASSETS = Path(__file__).with_name("static") / "dashboard"
# Everything the page loads comes from this server; it may not be framed or leak its URL.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

blueprint = Blueprint("ops", __name__)


@blueprint.get("/dashboard/")
def dashboard():
    return _asset("index.html")


@blueprint.get("/dashboard/<any('dashboard.js', 'dashboard.css'):name>")
def asset(name: str):
    return _asset(name)


@blueprint.get("/api/ops/overview/")
def overview():
    authenticate(admin=True)
    res = current_app.extensions["salesync"]
    with res.sessions() as session:
        body = ops.overview(session, res.intake, res.settings.timezone)
    return body, 200, {"Cache-Control": "no-store"}


def _asset(name: str):
    response = send_from_directory(ASSETS, name, max_age=0)
    response.headers.update(PAGE_HEADERS)
    return response
