"""The samples of sync lag and queue depth the ops dashboard charts.

Beat samples the queue every OPS_SAMPLE_INTERVAL seconds into a sorted set (score: Redis time
in ms) under the deployment's prefix, trimmed to the last hour; the overview reads it back and
adds a live point, so the page is never empty while the first samples come in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from redis_queue.intake import Intake

WINDOW = timedelta(hours=1)


def samples_key(prefix: str) -> str:
    return f"{prefix}ops:samples"


def measure(intake: Intake) -> dict:
    """Queue depth and sync lag (age of the oldest sale recorded and not yet applied) now."""
    seconds, micros = intake.redis.time()  # the clock the stream's entry ids come from
    now_ms = seconds * 1000 + micros // 1000
    oldest = intake.oldest_queued_ms()
    return {
        "at_ms": now_ms,
        "sync_lag_seconds": 0.0 if oldest is None else max(0, now_ms - oldest) / 1000,
        "queue_depth": intake.backlog(),
    }


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
    return [
        {
            "at": datetime.fromtimestamp(p["at_ms"] / 1000, UTC).isoformat(),
            "sync_lag_seconds": p["sync_lag_seconds"],
            "queue_depth": p["queue_depth"],
        }
        for p in points
    ]
