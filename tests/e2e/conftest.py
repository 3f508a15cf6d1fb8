"""One running salesync (gunicorn + Celery worker + beat) per module, against the real servers."""

from __future__ import annotations

import time

import pytest
import requests

from config.settings import Settings
from postgres.engine import make_sessions
from tests.e2e.faults import discard, issue_stack_tokens, make_stack
from tests.e2e.openapi_check import answers_match_the_openapi_document  # noqa: F401 (autouse: every answer)
from tests.processes import Stack, environment


@pytest.fixture(scope="module")
def stack(database_url, redis_url, run_prefix, tmp_path_factory, engine):
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"{run_prefix}e2e-{time.time_ns()}:",
        data_dir=tmp_path_factory.mktemp("stack"),
    )
    running = Stack(settings, environment(settings))
    running.sessions = make_sessions(engine)
    devices = {name: f"{name}-{time.time_ns()}" for name in ("till-1", "till-2", "admin")}
    issued = issue_stack_tokens(running, *devices.values())
    running.tokens = {name: issued[device] for name, device in devices.items()}
    try:
        yield running.start_all()
    finally:
        running.stop_all()


class Api:
    """A device's HTTP client, as a till would use it."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"

    def post(self, path, body):
        return self.send("POST", path, json=body)

    def get(self, path):
        return self.send("GET", path)

    def send(self, method, path, **kwargs):
        """Over the rate limit (429), wait Retry-After and send the same request again, as a till does."""
        for _ in range(30):
            response = self.http.request(method, self.base + path, timeout=10, **kwargs)
            if response.status_code != 429:
                return response
            time.sleep(int(response.headers["Retry-After"]))
        return response

    def settled(self, external_id: str, timeout: float = 30) -> dict:
        """Poll a sale's status until it is applied or rejected (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(f"/api/sales/{external_id}/").json()
            if body["status"] != "queued" or time.monotonic() > deadline:
                return body
            time.sleep(0.1)


@pytest.fixture(scope="module")
def api(stack):
    return {name: Api(stack.url, token) for name, token in stack.tokens.items()}


@pytest.fixture
def stack_factory(database_url, redis_url, run_prefix, tmp_path, engine):
    """Stacks of their own, for tests that kill parts of them; `env` overrides settings."""
    started = []

    def start(name: str = "fault", **env: str):
        stack = make_stack(
            engine,
            database_url,
            redis_url,
            f"{run_prefix}{name}-{time.time_ns()}:",
            tmp_path,
            SALESYNC_APPLY_BATCH="50",
            **env,
        )
        started.append(stack)
        return stack.start_all()

    yield start
    for stack in started:
        discard(stack)
