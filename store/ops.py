"""The operations overview behind the dashboard, and the samples of sync lag and queue depth it charts.

Beat samples the queue every OPS_SAMPLE_INTERVAL seconds into a sorted set (score: Redis time
in ms) under the deployment's prefix, trimmed to the last hour; the overview reads it back and
adds a live point, so the page is never empty while the first samples come in.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.money import format_amount, format_quantity
from store import rollup
from store.intake import Intake
from store.schema import Product, RejectedSale, Sale, StockAlert
from store.views import timestamp

WINDOW = timedelta(hours=1)
TOP_SELLERS = 10
LISTED = 50  # open alerts listed at most (the count is always exact)
RECENT_REJECTIONS = 10


def samples_key(prefix: str) -> str:
    return f"{prefix}ops:samples"


def measure(intake: Intake) -> dict:
    """Queue depth and sync lag (age of the oldest sale recorded and not yet applied) now."""
    seconds, micros = intake.redis.time()  # the clock the stream's entry ids come from
    now_ms = seconds * 1000 + micros // 1000
    oldest = intake.oldest_queued_ms()
    return {"at_ms": now_ms, "sync_lag_seconds": 0.0 if oldest is None else max(0, now_ms - oldest) / 1000,
            "queue_depth": intake.backlog()}


def sample(intake: Intake) -> dict:
    """Record one sample and forget those older than the window."""
    point = measure(intake)
    key = samples_key(intake.prefix)
    window_ms = int(WINDOW.total_seconds() * 1000)
    pipe = intake.redis.pipeline(transaction=True)
    pipe.zadd(key, {json.dumps(point, separators=(",", ":")): point["at_ms"]})
    pipe.zremrangebyscore(key, "-inf", f"({point['at_ms'] - window_ms}")
    pipe.pexpire(key, 2 * window_ms)  # a deployment (or test run) that goes away leaves nothing behind
    pipe.execute()
    return point


def history(intake: Intake, now: dict) -> list[dict]:
    """The last hour's samples, oldest first, ending with `now` (a live measure)."""
    since = now["at_ms"] - int(WINDOW.total_seconds() * 1000)
    raw = intake.redis.zrangebyscore(samples_key(intake.prefix), since, now["at_ms"])
    points = [json.loads(member) for member in raw] + [now]
    return [{"at": timestamp(datetime.fromtimestamp(p["at_ms"] / 1000, timezone.utc)),
             "sync_lag_seconds": p["sync_lag_seconds"], "queue_depth": p["queue_depth"]} for p in points]


def applied_per_minute(session: Session, now: datetime) -> list[dict]:
    """Sales applied in each of the last 60 minutes (the current one last, still counting)."""
    first = now.astimezone(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=59)
    minute = func.date_trunc("minute", Sale.synced_at)
    counts = {at.astimezone(timezone.utc): n for at, n in
              session.execute(select(minute, func.count()).where(Sale.synced_at >= first).group_by(minute))}
    minutes = [first + timedelta(minutes=i) for i in range(60)]
    return [{"minute": timestamp(at), "count": counts.get(at, 0)} for at in minutes]


def open_alert_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(StockAlert).where(StockAlert.status == "open"))


def open_alerts(session: Session) -> tuple[int, list[dict]]:
    """How many alerts are open, and the LISTED newest of them."""
    query = (select(StockAlert, Product).join(Product, Product.id == StockAlert.product_id)
             .where(StockAlert.status == "open"))
    count = open_alert_count(session)
    rows = session.execute(query.order_by(StockAlert.raised_at.desc(), StockAlert.id.desc()).limit(LISTED))
    return count, [{"id": alert.id, "product": product.id, "sku": product.sku, "name": product.name,
                    "stock": format_quantity(product.stock), "reorder_level": format_quantity(product.reorder_level),
                    "raised_at": timestamp(alert.raised_at)} for alert, product in rows]


def top_sellers(session: Session, day) -> list[dict]:
    return [{"product": product.id, "sku": product.sku, "name": product.name, "quantity": format_quantity(quantity),
             "revenue": format_amount(revenue)}
            for product, quantity, revenue in rollup.top_products(session, day, day, TOP_SELLERS)]


def recent_rejections(session: Session) -> list[dict]:
    rows = session.scalars(select(RejectedSale).order_by(RejectedSale.rejected_at.desc()).limit(RECENT_REJECTIONS))
    return [{"external_id": row.external_id, "device": row.device, "reason": row.reason,
             "rejected_at": timestamp(row.rejected_at)} for row in rows]


def overview(session: Session, intake: Intake, tz: str) -> dict:
    live = measure(intake)
    now = datetime.fromtimestamp(live["at_ms"] / 1000, timezone.utc)
    per_minute = applied_per_minute(session, now)
    alert_count, alerts = open_alerts(session)
    return {
        "generated_at": timestamp(now),
        "sync_lag_seconds": live["sync_lag_seconds"],
        "queue_depth": live["queue_depth"],
        "history": history(intake, live),
        "applied_last_hour": sum(m["count"] for m in per_minute),
        "applied_per_minute": per_minute,
        "open_alert_count": alert_count,
        "open_alerts": alerts,
        "top_sellers": {"day": now.astimezone(ZoneInfo(tz)).date().isoformat(), "timezone": tz,
                        "as_of": timestamp(rollup.as_of(session)),
                        "products": top_sellers(session, now.astimezone(ZoneInfo(tz)).date())},
        "recent_rejections": recent_rejections(session),
    }
