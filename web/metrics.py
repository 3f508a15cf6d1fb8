"""GET /metrics in Prometheus text format, and the intake's own counters and log lines.

Intake counters and latency live in each gunicorn worker and are merged across workers through
PROMETHEUS_MULTIPROC_DIR (see web/gunicorn_conf.py). Everything read from Redis or PostgreSQL
(queue depth, sync lag, rollup age, open alerts, the workers' counters: redis_queue/counters.py) is
computed when scraped, so it is right even while every worker is down; the PostgreSQL figures are
read at most once every POSTGRESQL_CACHE_SECONDS per process, however often /metrics is asked.

With SALESYNC_METRICS_TOKEN set, /metrics answers only "Authorization: Bearer <that token>".
"""

from __future__ import annotations

import hmac
import logging
import os
import time

import redis
from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from postgres import reports, rollup
from redis_queue import samples
from redis_queue.counters import WorkerMetrics
from web.devices import SILENT_AFTER, FleetFigures, figures
from web.health import recent
from web.problems import ProblemError

INTAKE = {"sales.post_sale": "sale", "sales.post_batch": "batch"}  # Flask endpoint -> label
REQUESTS = Counter(
    "salesync_intake_requests", "Intake HTTP requests by endpoint (sale, batch) and status code", ["endpoint", "status"]
)
LATENCY = Histogram(
    "salesync_intake_request_duration_seconds",
    "Intake request latency, by endpoint",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SALES = Counter(
    "salesync_intake_sales",
    "Sales recorded by intake, by outcome: new (202), repeat (200), conflict (422)",
    ["outcome"],
)

POSTGRESQL_CACHE_SECONDS = 5.0  # well under Prometheus's scrape interval (15 s in deploy/prometheus.yml)

blueprint = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)
intake_log = logging.getLogger("web.intake")


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_count)
    app.register_blueprint(blueprint)


def sales_recorded(sales, recorded) -> None:
    """Count and log each sale intake recorded (or recognised), so it can be followed to its apply."""
    counts: dict[str, int] = {}
    for r in recorded:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    for outcome, count in counts.items():  # one increment per outcome, however long the batch
        _child(SALES, outcome).inc(count)
    for sale, r in zip(sales, recorded):
        intake_log.info(
            "sale %s from %s: %s",
            sale.external_id,
            sale.device,
            r.outcome,
            extra={"external_id": sale.external_id, "device": sale.device, "outcome": r.outcome},
        )


_children: dict[tuple, object] = {}


def _child(metric, *labels: str):
    """metric.labels(*labels), kept: prometheus_client looks a child up under a lock on every call."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def _start() -> None:
    request.environ["salesync.started"] = time.perf_counter()


def _count(response: Response) -> Response:
    endpoint = INTAKE.get(request.endpoint or "")
    started = request.environ.get("salesync.started")
    if endpoint and started is not None:
        _child(REQUESTS, endpoint, str(response.status_code)).inc()
        _child(LATENCY, endpoint).observe(time.perf_counter() - started)
    return response


@blueprint.get("/metrics")
def metrics():
    _authorize(current_app.extensions["salesync"].settings.metrics_token)
    snapshot = CollectorRegistry()
    snapshot.register(Snapshot(current_app.extensions["salesync"]))
    return Response(generate_latest(_process_metrics()) + generate_latest(snapshot), content_type=CONTENT_TYPE_LATEST)


def _authorize(expected: str) -> None:
    """Nothing to check when no metrics token is configured (local use); else the bearer token must match."""
    if not expected:
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if not (scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())):
        raise ProblemError(
            401,
            "Unauthorized",
            "Send 'Authorization: Bearer <SALESYNC_METRICS_TOKEN>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _process_metrics() -> CollectorRegistry:
    """Every gunicorn worker's counters when running multiprocess, else this process's own."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


class Snapshot:
    """Gauges and worker counters read from Redis and PostgreSQL at scrape time."""

    def __init__(self, res):
        self.res = res

    def collect(self):
        up = GaugeMetricFamily(
            "salesync_dependency_up", "Whether /metrics could read Redis and PostgreSQL", labels=["dependency"]
        )
        try:
            yield from self._redis()
            up.add_metric(["redis"], 1)
        except redis.RedisError as error:
            log.warning("metrics: redis unavailable: %s", error)
            up.add_metric(["redis"], 0)
        try:
            yield from self._postgresql()
            yield from self._fleet()
            up.add_metric(["postgresql"], 1)
        except SQLAlchemyError as error:
            log.warning("metrics: postgresql unavailable: %s", error)
            up.add_metric(["postgresql"], 0)
        yield up

    def _redis(self):
        res = self.res
        queue = samples.measure(res.intake)
        families = WorkerMetrics(res.redis, res.settings.redis_prefix).families()
        yield GaugeMetricFamily(
            "salesync_queue_depth", "Sales recorded and not yet applied", value=queue["queue_depth"]
        )
        yield GaugeMetricFamily(
            "salesync_sync_lag_seconds",
            "Age of the oldest sale recorded but not yet applied (0 when none waits)",
            value=queue["sync_lag_seconds"],
        )
        yield from families

    def _postgresql(self):
        (figures, error), age = recent("metrics.postgresql", POSTGRESQL_CACHE_SECONDS).get(self._read_postgresql)
        if error is not None:
            raise error.with_traceback(None)
        alerts, rollup_age = figures
        yield GaugeMetricFamily("salesync_open_alerts", "Open low-stock alerts", value=alerts)
        if rollup_age is not None:
            yield GaugeMetricFamily(
                "salesync_rollup_age_seconds",
                "Seconds since the analytics rollup was refreshed",
                value=rollup_age + age,
            )  # as old as when read, plus the time since

    def _fleet(self):
        """Silent tills and missing sales (web/devices.py), read at most every POSTGRESQL_CACHE_SECONDS."""
        (found, error), _ = recent("metrics.fleet", POSTGRESQL_CACHE_SECONDS).get(self._read_fleet)
        if isinstance(error, SQLAlchemyError):
            raise error.with_traceback(None)
        if found is None:  # Redis unreachable: salesync_dependency_up says so already
            return
        yield GaugeMetricFamily(
            "salesync_tills_silent",
            f"Tills (active, not admin) without an authenticated request for over {SILENT_AFTER:g} s",
            value=found.silent_tills,
        )
        yield GaugeMetricFamily(
            "salesync_sequence_gaps_open",
            "Ranges of sale sequence numbers missing longer than SALESYNC_GAP_GRACE, over all devices",
            value=found.open_gaps,
        )
        yield GaugeMetricFamily(
            "salesync_sequences_missing",
            "Sales numbered in those ranges: lost or not yet sent",
            value=found.missing_sales,
        )

    def _read_fleet(self) -> tuple[FleetFigures | None, Exception | None]:
        res = self.res
        try:
            return figures(res.sessions, res.redis, res.settings.redis_prefix, res.settings.gap_grace), None
        except (SQLAlchemyError, redis.RedisError) as error:
            return None, error

    def _read_postgresql(self) -> tuple[tuple[int, float | None] | None, SQLAlchemyError | None]:
        """(open alerts, rollup age in seconds or None before the first refresh), or the error that
        prevented reading them: a failure is kept as long as figures are, so an unreachable PostgreSQL
        is not retried on every scrape either."""
        try:
            with self.res.sessions() as session:
                as_of = rollup.as_of(session)
                now = session.scalar(select(func.now()))
                alerts = reports.open_alert_count(session)
        except SQLAlchemyError as error:
            return None, error
        return (alerts, None if as_of is None else (now - as_of).total_seconds()), None
