"""The ops dashboard: a static page (no data in it) and the admin-only JSON it draws.

The page itself holds nothing: it asks for an admin token, keeps it in the tab's
sessionStorage, and fetches GET /api/ops/overview/ with it like any API client.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, send_from_directory
from sqlalchemy.orm import Session

from postgres import reports, rollup
from postgres.statuses import timestamp
from redis_queue import samples
from redis_queue.intake import Intake
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
        body = overview_body(session, res.intake, res.settings.timezone)
    return body, 200, {"Cache-Control": "no-store"}


def overview_body(session: Session, intake: Intake, tz: str) -> dict:
    """GET /api/ops/overview/'s answer: the queue from Redis, the rest from PostgreSQL."""
    live = samples.measure(intake)
    now = datetime.fromtimestamp(live["at_ms"] / 1000, UTC)
    per_minute = reports.applied_per_minute(session, now)
    alert_count, alerts = reports.open_alerts(session)
    return {
        "generated_at": timestamp(now),
        "sync_lag_seconds": live["sync_lag_seconds"],
        "queue_depth": live["queue_depth"],
        "history": samples.history(intake, live),
        "applied_last_hour": sum(m["count"] for m in per_minute),
        "applied_per_minute": per_minute,
        "open_alert_count": alert_count,
        "open_alerts": alerts,
        "top_sellers": {
            "day": now.astimezone(ZoneInfo(tz)).date().isoformat(),
            "timezone": tz,
            "as_of": timestamp(rollup.as_of(session)),
            "products": reports.top_sellers(session, now.astimezone(ZoneInfo(tz)).date()),
        },
        "recent_rejections": reports.recent_rejections(session),
    }


def _asset(name: str):
    response = send_from_directory(ASSETS, name, max_age=0)
    response.headers.update(PAGE_HEADERS)
    return response
