"""Celery tasks: triggers that drain the sales stream into PostgreSQL, and housekeeping."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from config.settings import Settings
from postgres import rollup, tokens
from postgres.apply import apply_isolating, is_transient
from redis_queue import samples
from redis_queue.counters import WorkerMetrics
from worker.celery_app import app
from worker.resources import resources

log = logging.getLogger(__name__)
# Flower and the worker log show a task's result cut to this many characters (Celery's default is
# 1024): room for every external_id (36 characters and a space) of a full batch.
RESULT_SIZE = 256 + 37 * Settings.from_env().apply_batch


@app.task(name="salesync.drain", bind=True, max_retries=3, resultrepr_maxsize=RESULT_SIZE)
def drain(self, trigger: str = "beat") -> dict:
    """Apply up to one batch of queued sales; acknowledge them only after commit.
    `trigger` (beat, kick from intake, more after a full batch) only labels the task in Flower,
    the logs and the metrics; the result says what the batch held."""
    res = resources()
    settings = res.settings
    metrics = WorkerMetrics(res.redis, settings.redis_prefix)
    entries = res.intake.claim(res.consumer, settings.apply_batch, int(settings.reclaim_after * 1000))
    if not entries:
        metrics.drained(trigger)
        return {"trigger": trigger, "batch": 0}
    if len(entries) == settings.apply_batch:
        # More is waiting: let a second worker start on it now.
        drain.apply_async(kwargs={"trigger": "more"}, expires=settings.trigger_expires)
    started = time.perf_counter()
    try:
        statuses = apply_isolating(
            res.sessions,
            [entry.sale for entry in entries],
            datetime.now(UTC),
            failed=res.intake.count_failure,
            grace=settings.set_aside_after,
            waited=res.intake.waited,
        )
    except Exception as error:
        metrics.drained(trigger, batch=len(entries), retried=len(entries))
        if not is_transient(error):
            raise
        # The entries stay pending on this consumer and are read again first by its next drain.
        log.warning(
            "transient failure applying %d sales, retrying: %s",
            len(entries),
            error,
            extra={"batch": len(entries), "trigger": trigger},
        )
        raise self.retry(exc=error, countdown=min(30, 2**self.request.retries)) from error
    res.intake.settle(entries, statuses)
    outcomes = report(entries, statuses, trigger)
    counts = {outcome: len(ids) for outcome, ids in outcomes.items()}
    metrics.drained(trigger, batch=len(entries), seconds=time.perf_counter() - started, **counts)
    # Flower shows this as the task's result, searchable by any external_id the drain applied or rejected.
    return {
        "trigger": trigger,
        "batch": len(entries),
        **counts,
        "applied_ids": " ".join(outcomes["applied"]),
        "rejected_ids": " ".join(outcomes["rejected"]),
    }


def report(entries, statuses: dict[str, dict], trigger: str) -> dict[str, list[str]]:
    """Log one line per sale of the batch (never its payload) and group the external_ids by outcome.
    A sale without a status stays queued: it is retried by a later drain; a return waiting for its
    original went back to the end of the queue."""
    outcomes: dict[str, list[str]] = {"applied": [], "rejected": [], "retried": [], "waiting": []}
    for entry in entries:
        status = statuses.get(entry.external_id, {})
        outcome = status.get("status", "retried")
        outcomes[outcome].append(entry.external_id)
        fields = {
            "external_id": entry.external_id,
            "device": entry.sale.get("device"),
            "outcome": outcome,
            "batch": len(entries),
            "trigger": trigger,
        }
        if outcome == "rejected":
            log.warning(
                "sale %s rejected: %s", entry.external_id, status["error"], extra={**fields, "reason": status["error"]}
            )
        else:
            log.info("sale %s %s", entry.external_id, outcome, extra=fields)
    return outcomes


@app.task(name="salesync.prune_consumers")
def prune_consumers() -> list[str]:
    """Forget stream consumers of worker processes gone for an hour or more (none holding a sale)."""
    res = resources()
    pruned = res.intake.prune_consumers(idle_ms=3600 * 1000)
    if pruned:
        log.info("forgot %d idle stream consumers: %s", len(pruned), " ".join(pruned))
    return pruned


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
    log.info(
        "rollup refreshed: %d product-days restated%s",
        refreshed.days_restated,
        " (full rebuild)" if refreshed.rebuilt else "",
    )
    return refreshed.days_restated


@app.task(name="salesync.sample_ops")
def sample_ops() -> dict:
    """Record the queue's depth and sync lag for the dashboard's last-hour charts."""
    return samples.sample(resources().intake)
