"""Shared fixtures: real servers for integration and end-to-end tests, fresh state per test."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from config.settings import Settings
from postgres.engine import make_engine, make_sessions, migrate
from postgres.tables import Base
from redis_queue.intake import Intake
from tests import servers
from tests.builders import auth, issue_tokens
from web.app import create_app

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def scratch():
    """Where embedded servers keep their data: outside pytest's own temporary root, whose
    permissions every new pytest session resets to owner-only. The embedded PostgreSQL runs as
    another user when we are root, and would lose access to its files mid-run."""
    path = Path(tempfile.mkdtemp(prefix="salesync-test-servers-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(scratch):
    with servers.postgres_database(os.environ.get("DATABASE_URL") or None, scratch) as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def redis_url(scratch):
    with servers.redis_server(os.environ.get("REDIS_URL") or None, scratch) as url:
        yield url


@pytest.fixture(scope="session")
def run_prefix(redis_url):
    prefix = f"salesync-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    servers.delete_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    """A session factory over an emptied database (tests commit for real: workers race in them),
    holding only what the migrations create: the store `main`."""
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(text("INSERT INTO stores (code, name) VALUES ('main', 'Main store')"))
    return make_sessions(engine)


@pytest.fixture
def settings(database_url, redis_url, run_prefix, tmp_path):
    """Settings for one test: its own Redis key prefix, so tests never see each other's queues."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path,
        redis_prefix=f"{run_prefix}{next(_prefixes)}:",
    )


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def intake(redis_client, settings):
    return Intake.from_settings(redis_client, settings)


@pytest.fixture
def app(settings):
    """The web app on this test's settings."""
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth_headers(sessions, settings, redis_client):
    """Authorization headers of tills till-1 and till-2 and of an admin, their tokens published as serve does."""
    issued = issue_tokens(sessions, redis_client, settings.redis_prefix, "till-1", "till-2", "admin")
    return {device: auth(token) for device, token in issued.items()}


# In CI every test must run: a skip there means something CI should provide is missing -------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _fail_a_skip_in_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    _fail_a_skip_in_ci(report)
    return report


def _fail_a_skip_in_ci(report) -> None:
    """Under CI=true a skipped test (or module) is a failure that names it and the reason it gave."""
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"{report.nodeid} was skipped, and under CI=true every test must run: {reason}"
