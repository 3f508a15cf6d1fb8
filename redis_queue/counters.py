"""What the workers count, kept where every web process can read it: one Redis hash.

Workers may run in other containers or on other hosts than the web process that serves
/metrics, and a Celery pool replaces its processes. So each drain adds its counts to the hash
`<prefix>metrics` (one pipelined round trip), and GET /metrics turns the hash into Prometheus
counters and histograms when scraped. Any web instance therefore reports all workers, and the
counts survive worker restarts (Prometheus treats a Redis reset like any counter reset).
"""

from __future__ import annotations

import logging
import time

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

TRIGGERS = ("beat", "kick", "more")  # what sent a drain: beat's schedule, intake, a full batch before it
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)
BATCH_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_HISTOGRAMS = {
    "batch_size": ("salesync_apply_batch_size", "Sales taken by one drain (non-empty batches)", BATCH_SIZE_BUCKETS),
    "batch_seconds": (
        "salesync_apply_batch_duration_seconds",
        "Time to apply and settle one batch",
        BATCH_SECONDS_BUCKETS,
    ),
}
_SALES = {
    "applied": "Sales applied to PostgreSQL by the workers",
    "rejected": "Sales rejected by the workers (the reason is in the sale's status and rejected_sales)",
    "retried": "Sales left queued after an apply attempt, to be applied by a later drain",
    "waiting": "Returns put back at the end of the queue: their original sale is not applied yet",
}

log = logging.getLogger(__name__)


class WorkerMetrics:
    def __init__(self, client: redis.Redis, prefix: str):
        self.redis = client
        self.key = f"{prefix}metrics"

    def drained(self, trigger: str, batch: int = 0, seconds: float | None = None, **sales: int) -> None:
        """Count one drain: its trigger, its batch and duration, and its sales by outcome
        (applied=, rejected=, retried=). Never fails the drain: the sales are settled by now."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.key, f"drains:{trigger if trigger in TRIGGERS else 'other'}", 1)
        pipe.hset(self.key, "last_drain", repr(time.time()))
        for outcome, count in sales.items():
            if count:
                pipe.hincrby(self.key, f"sales:{outcome}", count)
        if batch:
            self._observe(pipe, "batch_size", batch)
        if seconds is not None:
            self._observe(pipe, "batch_seconds", seconds)
        try:
            pipe.execute()
        except redis.RedisError as error:
            log.warning("could not count a drain in the metrics: %s", error)

    def _observe(self, pipe, name: str, value: float) -> None:
        bounds = _HISTOGRAMS[name][2]
        bucket = next((bound for bound in bounds if value <= bound), "+Inf")
        pipe.hincrby(self.key, f"{name}:le:{bucket}", 1)
        pipe.hincrbyfloat(self.key, f"{name}:sum", value)
        pipe.hincrby(self.key, f"{name}:count", 1)

    def families(self) -> list:
        """The hash as Prometheus metric families (read at scrape time)."""
        raw = {key.decode(): float(value) for key, value in self.redis.hgetall(self.key).items()}
        families: list[Metric] = []
        for outcome, documentation in _SALES.items():
            families.append(
                CounterMetricFamily(f"salesync_sales_{outcome}", documentation, value=raw.get(f"sales:{outcome}", 0))
            )
        drains = CounterMetricFamily(
            "salesync_drains", "Drain tasks run by the workers, by what sent them", labels=["trigger"]
        )
        for trigger in (*TRIGGERS, "other"):
            drains.add_metric([trigger], raw.get(f"drains:{trigger}", 0))
        families.append(drains)
        for name, (metric, documentation, bounds) in _HISTOGRAMS.items():
            buckets, running = [], 0.0
            for bound in bounds:
                running += raw.get(f"{name}:le:{bound}", 0)
                buckets.append((floatToGoString(bound), running))
            buckets.append(("+Inf", raw.get(f"{name}:count", 0)))
            families.append(
                HistogramMetricFamily(metric, documentation, buckets=buckets, sum_value=raw.get(f"{name}:sum", 0))
            )
        if "last_drain" in raw:
            families.append(
                GaugeMetricFamily(
                    "salesync_worker_last_drain_timestamp_seconds",
                    "When a worker last ran a drain (Unix time)",
                    value=raw["last_drain"],
                )
            )
        return families
