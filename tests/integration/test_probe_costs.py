"""What an anonymous caller can make PostgreSQL do through the unauthenticated endpoints: /readyz
checks it at most once a second per process, and /metrics reads its PostgreSQL figures at most once
every few seconds and, with SALESYNC_METRICS_TOKEN set, only for a caller presenting that token.
Counted with an event listener on the app's real engine: every statement sent to PostgreSQL."""

from __future__ import annotations

import time
from decimal import Decimal

from sqlalchemy import event

from postgres import rollup
from postgres.tables import Product, StockAlert
from tests.prometheus_text import samples, value
from web import health, metrics
from web.app import create_app

TOKEN = "metrics-token-for-the-tests"


class Statements:
    """Statements the app sends to PostgreSQL."""

    def __init__(self, app):
        self.sent: list[str] = []
        event.listen(app.extensions["salesync"].sessions.kw["bind"], "before_cursor_execute", self.count)

    def count(self, conn, cursor, statement, parameters, context, executemany):
        self.sent.append(statement)

    def __len__(self) -> int:
        return len(self.sent)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# /readyz ------------------------------------------------------------------------------------------


def test_many_readiness_probes_within_a_second_check_postgresql_once(settings, sessions):
    app = create_app(settings)
    client, sent = app.test_client(), Statements(app)

    first = client.get("/readyz")
    started = time.monotonic()  # after the first check was taken: the cached answer expires before started + 1 s
    checked = len(sent)
    answers = [first]
    while time.monotonic() - started < health.READY_CACHE_SECONDS * 0.5:
        answers.append(client.get("/readyz"))

    assert checked > 0 and any("alembic_version" in s for s in sent.sent)  # the listener sees the check
    assert len(answers) >= 10
    assert {(a.status_code, a.json["status"]) for a in answers} == {(200, "ready")}
    assert len(sent) == checked  # one check for them all

    time.sleep(max(0.0, started + health.READY_CACHE_SECONDS - time.monotonic()) + 0.05)
    assert client.get("/readyz").status_code == 200
    assert len(sent) == 2 * checked  # the next second checks again: a cached answer is at most a second old


def test_a_cached_not_ready_answer_is_replaced_once_the_second_is_over(settings, sessions):
    app = create_app(settings.model_copy(update=dict(redis_url="redis://127.0.0.1:1/0")))
    client, sent = app.test_client(), Statements(app)

    answers = [client.get("/readyz") for _ in range(10)]

    assert {a.status_code for a in answers} == {503}
    assert {a.json["checks"]["redis"] for a in answers} == {"unreachable"}
    checked = len(sent)
    time.sleep(health.READY_CACHE_SECONDS + 0.05)
    assert client.get("/readyz").status_code == 503
    assert len(sent) == 2 * checked


# /metrics: the token ------------------------------------------------------------------------------


def test_with_a_metrics_token_metrics_answers_only_the_bearer_of_that_token(settings, sessions):
    client = create_app(settings.model_copy(update=dict(metrics_token=TOKEN))).test_client()

    refused = [
        client.get("/metrics"),
        client.get("/metrics", headers=bearer("wrong")),
        client.get("/metrics", headers=bearer(TOKEN[:-1])),
        client.get("/metrics", headers=bearer(TOKEN + "x")),
        client.get("/metrics", headers=bearer("")),
        client.get("/metrics", headers={"Authorization": f"Token {TOKEN}"}),
        client.get("/metrics", headers={"Authorization": TOKEN}),
    ]
    allowed = client.get("/metrics", headers=bearer(TOKEN))

    for answer in refused:
        assert answer.status_code == 401
        assert answer.content_type == "application/problem+json"
        assert answer.json["status"] == 401 and set(answer.json) == {"type", "title", "status", "detail"}
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert "salesync_" not in answer.get_data(as_text=True)
        assert TOKEN not in answer.get_data(as_text=True)
    assert (allowed.status_code, allowed.mimetype) == (200, "text/plain")
    assert value(samples(allowed.text), "salesync_dependency_up", dependency="postgresql") == 1


def test_without_a_metrics_token_metrics_stays_open(settings, sessions):
    client = create_app(settings.model_copy(update=dict(metrics_token=""))).test_client()

    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", headers=bearer("anything")).status_code == 200


def test_a_refused_scrape_costs_postgresql_nothing(settings, sessions):
    app = create_app(settings.model_copy(update=dict(metrics_token=TOKEN)))
    client, sent = app.test_client(), Statements(app)

    assert [client.get("/metrics").status_code for _ in range(20)] == [401] * 20
    assert len(sent) == 0


# /metrics: PostgreSQL read at most every POSTGRESQL_CACHE_SECONDS -------------------------------------


def test_many_scrapes_read_postgresql_once(settings, sessions):
    app = create_app(settings)
    client, sent = app.test_client(), Statements(app)

    started = time.monotonic()
    first = samples(client.get("/metrics").text)
    read = len(sent)
    scrapes = [samples(client.get("/metrics").text) for _ in range(30)]

    assert time.monotonic() - started < metrics.POSTGRESQL_CACHE_SECONDS  # else the test proves nothing
    assert read > 0
    assert len(sent) == read
    assert {value(s, "salesync_open_alerts") for s in [first, *scrapes]} == {0}
    assert {value(s, "salesync_dependency_up", dependency="postgresql") for s in scrapes} == {1}


def test_the_postgresql_figures_are_read_again_once_they_are_older_than_the_cache_time(settings, sessions, monkeypatch):
    monkeypatch.setattr(metrics, "POSTGRESQL_CACHE_SECONDS", 0.5)
    app = create_app(settings)
    client, sent = app.test_client(), Statements(app)
    assert value(samples(client.get("/metrics").text), "salesync_open_alerts") == 0
    read = len(sent)
    with sessions.begin() as session:
        product = Product(sku="LOW", name="Low", reorder_level=Decimal(5))
        session.add(product)
        session.flush()
        session.add(StockAlert(product_id=product.id, stock=Decimal(1), reorder_level=Decimal(5)))

    assert value(samples(client.get("/metrics").text), "salesync_open_alerts") == 0  # still the cached figure
    time.sleep(0.55)
    assert value(samples(client.get("/metrics").text), "salesync_open_alerts") == 1
    assert len(sent) == 2 * read


def test_a_cached_rollup_age_keeps_growing(settings, sessions):
    """The rollup age read from PostgreSQL is as old as when it was read plus the time since: never frozen."""
    with sessions.begin() as session:
        rollup.refresh(session, settings.timezone)
    client = create_app(settings).test_client()
    first = value(samples(client.get("/metrics").text), "salesync_rollup_age_seconds")
    time.sleep(0.3)
    later = value(samples(client.get("/metrics").text), "salesync_rollup_age_seconds")

    assert first >= 0
    assert later >= first + 0.3
