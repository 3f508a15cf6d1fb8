"""Configuration: every environment variable salesync reads, in one class, checked at start-up.

A bad value stops the process before it serves or applies anything, with a line that names the
variable and what it may be (`SALESYNC_APPLY_BATCH=abc is not valid: an integer from 1 to 10000`),
rather than failing later, deep in a request or a drain. An empty variable means its default.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

ORIGIN = re.compile(r"https?://[^\s/?#,*]+")  # a web origin as browsers send it: scheme://host[:port]


def psycopg2_url(url: str) -> str:
    """Accept the usual postgres:// spellings; SQLAlchemy 2.1 would map them to psycopg 3."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


class SettingsError(ValueError):
    """A variable's value is not allowed; the message names it and what is."""


class Settings(BaseSettings):
    """`Settings()` is the defaults alone, so tests and tools build on them whatever the shell
    holds; `Settings.from_env()` reads the environment. Every field is `SALESYNC_<NAME>` unless
    it says otherwise (`validation_alias`), and the README's Configuration table lists them all
    (tests/unit/test_settings.py holds the two together)."""

    model_config = SettingsConfigDict(
        env_prefix="SALESYNC_", env_ignore_empty=True, frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    database_url: str | None = Field(None, validation_alias="DATABASE_URL")  # None: the embedded server under data_dir
    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    data_dir: Path = Path("var")
    redis_prefix: str = "salesync:"
    apply_batch: int = Field(500, ge=1, le=10_000)  # sales applied in one PostgreSQL transaction
    drain_interval: float = Field(1.0, gt=0)  # seconds between beat's safety-net drains
    # Seconds a delivered sale may stay unacknowledged before another worker takes it.
    reclaim_after: float = Field(60.0, gt=0)
    max_body_bytes: int = Field(64 * 1024, ge=1024)  # below 1 KiB not even one sale fits
    max_batch_bytes: int = Field(8 * 1024 * 1024, ge=1024)  # POST /api/sales/batch/
    record_ttl: int = Field(30 * 24 * 3600, ge=1)  # seconds an applied sale's intake record stays in Redis
    token_cache_seconds: float = Field(5.0, ge=0)  # a revoked token stops working within this on every web worker
    retry_after: int = Field(5, ge=1)  # seconds a client is told to wait when Redis is unreachable
    timezone: str = "UTC"  # the reporting time zone: analytics days start at its midnight
    rollup_interval: float = Field(60.0, gt=0)  # seconds between analytics rollup refreshes
    # Seconds a sale may keep failing with its whole batch before it is set aside.
    set_aside_after: float = Field(3600.0, ge=0)
    rate_limit: float = Field(50.0, ge=0)  # requests a second per token, on average (0: no limit)
    rate_burst: int = Field(100, ge=1)  # requests a token may send at once before the rate applies
    # Sales a second per token, on average, however they are batched (0: no limit).
    sales_rate: float = Field(200.0, ge=0)
    # Sales a token may send at once before sales_rate applies: a full batch of 1,000 must fit.
    sales_burst: int = Field(5000, ge=1000)
    max_queued: int = Field(1_000_000, ge=1)  # sales queued in Redis and not yet applied: above it intake answers 503
    redis_high_water: float = Field(0.8, gt=0, le=1)  # share of Redis's maxmemory above which intake answers 503
    # When set, GET /metrics needs "Authorization: Bearer <it>". repr=False: a secret, never shown.
    metrics_token: str = Field("", repr=False)
    # Fault injection for the reliability tests (docs/reliability.md); never set in production.
    # "exit-after-record": a web worker exits right after recording a new sale, before kicking a drain.
    fault: Literal["exit-after-record", ""] = ""
    log_format: Literal["json", "text"] = "json"  # config/logs.py
    # Seconds a gap in a device's sale sequence numbers may stay open before it is reported.
    gap_grace: float = Field(600.0, gt=0)
    # Origins (scheme://host[:port], comma-separated) whose web tills may call the API from a
    # browser; empty: none (same origin only).
    cors_origins: str = ""
    # Flower's login, user:password[,user:password]; FLOWER_BASIC_AUTH is the name Flower itself reads.
    flower_auth: str = Field("", repr=False, validation_alias=AliasChoices("SALESYNC_FLOWER_AUTH", "FLOWER_BASIC_AUTH"))
    # Where the gunicorn workers keep their metrics (web/gunicorn_conf.py); prometheus_client itself
    # reads the variable, so gunicorn_conf sets it from this before anything imports it.
    prometheus_multiproc_dir: Path = Field(
        default_factory=lambda values: values["data_dir"] / "prometheus", validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings,)  # the environment only through from_env()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings `environ` gives, or SettingsError naming the first bad variable."""
        try:
            return cls.model_validate(_Environment(cls, environ)())
        except ValidationError as error:
            raise SettingsError(_explain(cls, error.errors()[0], environ)) from None

    @field_validator("database_url")
    @classmethod
    def _psycopg2(cls, url: str | None) -> str | None:
        return url and psycopg2_url(url)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)  # fail at start-up, not at the first report
        except (ValueError, LookupError):
            raise ValueError("an IANA time zone name, such as UTC or Europe/Berlin") from None
        return name

    @field_validator("max_batch_bytes")
    @classmethod
    def _holds_a_body(cls, size: int, info: ValidationInfo) -> int:
        body = info.data.get("max_body_bytes")
        if body is not None and size < body:
            raise ValueError(f"an integer of at least SALESYNC_MAX_BODY_BYTES ({body})")
        return size

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: str) -> str:
        for origin in filter(None, (entry.strip() for entry in origins.split(","))):
            if not ORIGIN.fullmatch(origin):
                raise ValueError(
                    "origins separated by commas, each scheme://host[:port] with no path, such as https://till.example.com"
                )
        return origins

    @field_validator("flower_auth")
    @classmethod
    def _credentials(cls, auth: str) -> str:
        if auth and not all(":" in credential for credential in auth.split(",")):
            raise ValueError("user:password, or several separated by commas")
        return auth

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

    @property
    def postgres(self) -> str:
        """DATABASE_URL, which must be known by now (the CLI fills in the embedded server's)."""
        return self.require_urls().database_url or ""

    @property
    def redis(self) -> str:
        """REDIS_URL, which must be known by now (the CLI fills in the embedded server's)."""
        return self.require_urls().redis_url or ""


def variables(field: str) -> list[str]:
    """The environment variables a field is read from, first match wins."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(name) for name in alias.choices]
    return [alias] if isinstance(alias, str) else ["SALESYNC_" + field.upper()]


class _Environment(EnvSettingsSource):
    """pydantic-settings' reading of variables (prefix, aliases, empty means default), from a
    mapping given rather than os.environ, so from_env(environ) can be tested without touching it."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items() if value != ""}


def _explain(cls: type[Settings], error: ErrorDetails, environ: Mapping[str, str]) -> str:
    """`NAME=value is not valid: what is allowed`, for the variable behind a validation error."""
    loc = str(error["loc"][0]) if error["loc"] else ""
    field = next(name for name, info in cls.model_fields.items() if loc == name or loc.upper() in variables(name))
    given = {name.upper(): value for name, value in environ.items() if value != ""}
    name = next((name for name in variables(field) if name in given), variables(field)[0])
    info = cls.model_fields[field]
    if name not in given:
        shown = f"{name}={info.get_default(call_default_factory=False)} (the default)"
    elif info.repr:
        shown = f"{name}={given[name]}"
    else:
        shown = name  # a secret: never echoed to a terminal or a log
    allowed = str(error["ctx"]["error"]) if error["type"] == "value_error" else _allowed(info)
    return f"{shown} is not valid: {allowed}"


def _allowed(info: FieldInfo) -> str:
    """What a field accepts, in words, from its type and bounds."""
    if typing.get_origin(info.annotation) is Literal:
        return " or ".join(value or "empty" for value in typing.get_args(info.annotation))
    kind = "an integer" if info.annotation is int else "a number" if info.annotation is float else "a value"
    bounds = {
        key: getattr(rule, key) for rule in info.metadata for key in ("gt", "ge", "lt", "le") if hasattr(rule, key)
    }
    if bounds.keys() == {"ge", "le"}:
        return f"{kind} from {bounds['ge']} to {bounds['le']}"
    words = {"gt": "above", "ge": "of at least", "lt": "below", "le": "at most"}
    limits = " and ".join(f"{words[key]} {value}" for key, value in bounds.items())
    return f"{kind} {limits}" if limits else kind
