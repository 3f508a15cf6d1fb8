"""Celery tasks: triggers that drain the sales stream into PostgreSQL, and housekeeping."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from store import rollup, tokens
from store.apply import apply_isolating, is_transient
from worker.celery_app import app
from worker.resources import resources

log = logging.getLogger(__name__)


@app.task(name="salesync.drain", bind=True, max_retries=3)
def drain(self) -> int:
    """Apply up to one batch of queued sales; acknowledge them only after commit."""
    res = resources()
    settings = res.settings
    entries = res.intake.claim(res.consumer, settings.apply_batch, int(settings.reclaim_after * 1000))
    if not entries:
        return 0
    if len(entries) == settings.apply_batch:
        drain.apply_async()  # more is waiting: let a second worker start on it now
    try:
        statuses = apply_isolating(res.sessions, [entry.sale for entry in entries], datetime.now(timezone.utc),
                                   failed=res.intake.count_failure)
    except Exception as error:
        if not is_transient(error):
            raise
        # The entries stay pending on this consumer and are read again first by its next drain.
        log.warning("transient failure applying %d sales, retrying: %s", len(entries), error)
        raise self.retry(exc=error, countdown=min(30, 2 ** self.request.retries))
    res.intake.settle(entries, statuses)
    return len(entries)


@app.task(name="salesync.publish_tokens")
def publish_tokens() -> int:
    """Re-publish active tokens to Redis, repairing a Redis that lost them."""
    res = resources()
    with res.sessions.begin() as session:
        return tokens.publish(session, res.redis, res.settings.redis_prefix)


@app.task(name="salesync.refresh_rollup")
def refresh_rollup() -> int:
    """Restate the analytics days touched by sales applied since the last refresh."""
    res = resources()
    with res.sessions.begin() as session:
        refreshed = rollup.refresh(session, res.settings.timezone)
    log.info("rollup refreshed: %d product-days restated%s", refreshed.days_restated,
             " (full rebuild)" if refreshed.rebuilt else "")
    return refreshed.days_restated
