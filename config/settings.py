"""Configuration, read once from the environment, with working local defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo


def psycopg2_url(url: str) -> str:
    """Accept the usual postgres:// spellings; SQLAlchemy 2.1 would map them to psycopg 3."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def _zone(name: str) -> str:
    ZoneInfo(name)  # fail at start-up, not at the first report
    return name


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # None: the embedded server under data_dir
    redis_url: str | None = None
    data_dir: Path = Path("var")
    redis_prefix: str = "salesync:"
    apply_batch: int = 500  # sales applied in one PostgreSQL transaction
    drain_interval: float = 1.0  # seconds between beat's safety-net drains
    reclaim_after: float = 60.0  # seconds a delivered sale may stay unacknowledged before another worker takes it
    max_body_bytes: int = 64 * 1024
    max_batch_bytes: int = 8 * 1024 * 1024  # POST /api/sales/batch/
    record_ttl: int = 30 * 24 * 3600  # seconds an applied sale's intake record stays in Redis
    token_cache_seconds: float = 5.0  # a revoked token stops working within this on every web worker
    retry_after: int = 5  # seconds a client is told to wait when Redis is unreachable
    timezone: str = "UTC"  # the reporting time zone: analytics days start at its midnight
    rollup_interval: float = 60.0  # seconds between analytics rollup refreshes
    set_aside_after: float = 3600.0  # seconds a sale may keep failing with its whole batch before it is set aside
    rate_limit: float = 50.0  # requests a second per token, on average (0: no limit)
    rate_burst: int = 100  # requests a token may send at once before the rate applies
    sales_rate: float = 200.0  # sales a second per token, on average, however they are batched (0: no limit)
    sales_burst: int = 5000  # sales a token may send at once before sales_rate applies
    max_queued: int = 1_000_000  # sales queued in Redis and not yet applied: above it intake answers 503
    redis_high_water: float = 0.8  # share of Redis's maxmemory above which intake answers 503
    metrics_token: str = ""  # when set, GET /metrics needs "Authorization: Bearer <it>"
    # Fault injection for the reliability tests (docs/reliability.md); never set in production.
    # "exit-after-record": a web worker exits right after recording a new sale, before kicking a drain.
    fault: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        def get(name, cast, default):
            value = environ.get(name)
            return default if value in (None, "") else cast(value)

        database_url = get("DATABASE_URL", psycopg2_url, None)
        return cls(
            database_url=database_url,
            redis_url=get("REDIS_URL", str, None),
            data_dir=get("SALESYNC_DATA_DIR", Path, cls.data_dir),
            redis_prefix=get("SALESYNC_REDIS_PREFIX", str, cls.redis_prefix),
            apply_batch=get("SALESYNC_APPLY_BATCH", int, cls.apply_batch),
            drain_interval=get("SALESYNC_DRAIN_INTERVAL", float, cls.drain_interval),
            reclaim_after=get("SALESYNC_RECLAIM_AFTER", float, cls.reclaim_after),
            max_body_bytes=get("SALESYNC_MAX_BODY_BYTES", int, cls.max_body_bytes),
            max_batch_bytes=get("SALESYNC_MAX_BATCH_BYTES", int, cls.max_batch_bytes),
            record_ttl=get("SALESYNC_RECORD_TTL", int, cls.record_ttl),
            token_cache_seconds=get("SALESYNC_TOKEN_CACHE_SECONDS", float, cls.token_cache_seconds),
            retry_after=get("SALESYNC_RETRY_AFTER", int, cls.retry_after),
            timezone=get("SALESYNC_TIMEZONE", _zone, cls.timezone),
            rollup_interval=get("SALESYNC_ROLLUP_INTERVAL", float, cls.rollup_interval),
            set_aside_after=get("SALESYNC_SET_ASIDE_AFTER", float, cls.set_aside_after),
            rate_limit=get("SALESYNC_RATE_LIMIT", float, cls.rate_limit),
            rate_burst=get("SALESYNC_RATE_BURST", int, cls.rate_burst),
            sales_rate=get("SALESYNC_SALES_RATE", float, cls.sales_rate),
            sales_burst=get("SALESYNC_SALES_BURST", int, cls.sales_burst),
            max_queued=get("SALESYNC_MAX_QUEUED", int, cls.max_queued),
            redis_high_water=get("SALESYNC_REDIS_HIGH_WATER", float, cls.redis_high_water),
            metrics_token=get("SALESYNC_METRICS_TOKEN", str, cls.metrics_token),
            fault=get("SALESYNC_FAULT", str, cls.fault),
        )

    @property
    def trigger_expires(self) -> float:
        """Seconds a queued drain trigger stays worth running: a later one does the same work, so a
        stale one is dropped unrun (the queue of triggers never turns into a backlog of work)."""
        return max(2 * self.drain_interval, 2.0)

    @property
    def celery_transport_options(self) -> dict:
        """Celery's broker keys under our prefix too, so deployments sharing a Redis never mix."""
        return {"global_keyprefix": self.redis_prefix + "celery:"}

    def require_urls(self) -> Settings:
        if not self.database_url or not self.redis_url:
            raise RuntimeError("DATABASE_URL and REDIS_URL must be set (salesync serve sets them for you)")
        return self
