"""`salesync simulate` against the running service: small fleets, checked against PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis
import requests

from cli import fleet, simulate
from postgres import tokens
from postgres.engine import make_engine
from tests.processes import ROOT, environment

pytestmark = pytest.mark.e2e


def simulate_fleet(stack, *options: str):
    args = simulate.parser().parse_args(
        [
            "--url",
            stack.url,
            f"--admin-token={stack.tokens['admin']}",
            "--devices",
            "20",
            "--sales",
            "20",
            "--retry-share",
            "0.1",
            "--invalid-share",
            "0.05",
            "--seed",
            "7",
            "--timeout",
            "50",
            *options,
        ]
    )
    return simulate.run(args, stack.settings)


def assert_counts_add_up(report):
    sent = report.sent
    assert sent == len(report.sales) == 20 * 20
    assert report.problems == []
    assert report.verified is True
    assert report.invalid == round(0.05 * sent) > 0
    assert report.accepted == sent - report.invalid
    assert report.resent > 0
    assert report.applied == report.accepted
    assert report.rejected == 0
    assert report.apply_seconds is not None  # every accepted sale found in PostgreSQL
    assert sum(sale.answers.count(202) for sale in report.sales) == report.accepted
    assert sum(sale.answers.count(200) for sale in report.sales) == report.resent


def test_a_fleet_posting_one_sale_a_request_has_every_accepted_sale_applied_once(stack):
    report = simulate_fleet(stack)

    assert_counts_add_up(report)


def test_a_fleet_posting_batches_of_50_has_every_accepted_sale_applied_once(stack):
    report = simulate_fleet(stack, "--batch", "50", "--connections", "8")

    assert_counts_add_up(report)


def test_verification_notices_stock_that_does_not_add_up(stack):
    report = simulate_fleet(stack, "--devices", "3", "--sales", "5", "--invalid-share", "0")
    hot = report.catalog.hot[0]
    adjusted = requests.post(
        f"{stack.url}/api/products/{hot.id}/stock-adjustments/",
        json={"quantity": "-1", "reason": "breakage"},
        headers={"Authorization": f"Token {stack.tokens['admin']}"},
        timeout=10,
    )
    engine = make_engine(stack.settings.database_url)
    try:
        problems = fleet.verify(engine, report.catalog, report.sales)
    finally:
        engine.dispose()

    assert (report.passed, adjusted.status_code) == (True, 201)
    assert [problem for problem in problems if hot.sku in problem] == problems != []


def test_a_fleet_over_three_stores_returning_a_fifth_of_its_sales_keeps_each_stores_stock(stack):
    report = simulate_fleet(
        stack, "--devices", "6", "--sales", "10", "--stores", "3", "--return-share", "0.2", "--batch", "5"
    )
    returns = [sale for sale in report.sales if sale.is_return]
    hot = report.catalog.hot[0]
    adjusted = requests.post(  # S1's stock of a hot product no longer adds up, main's and S2's still do
        f"{stack.url}/api/products/{hot.id}/stock-adjustments/",
        json={"quantity": "-1", "reason": "breakage", "store": "S1"},
        headers={"Authorization": f"Token {stack.tokens['admin']}"},
        timeout=10,
    )
    engine = make_engine(stack.settings.database_url)
    try:
        problems = fleet.verify(engine, report.catalog, report.sales)
    finally:
        engine.dispose()

    assert (report.problems, report.verified) == ([], True)
    assert len(returns) == report.returns_sent == report.returns_applied == 6 * 2
    assert report.applied == report.accepted == len(report.sales) - report.invalid
    assert {sale.store for sale in report.sales} == {"main", "S1", "S2"}
    assert "returns             12 sent, 12 applied" in simulate.summary(report)
    assert "6 devices in 3 stores x 10 sales" in simulate.summary(report)
    assert adjusted.status_code == 201
    assert len(problems) == 1 and problems[0].startswith(f"product {hot.sku} in store S1: stock ")


def test_the_command_line_runs_a_fleet_and_exits_0_when_verified(stack):
    env = environment(stack.settings, SALESYNC_ADMIN_TOKEN=stack.tokens["admin"])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "simulate",
            "--url",
            stack.url,
            "--devices",
            "4",
            "--sales",
            "5",
            "--batch",
            "3",
            "--timeout",
            "50",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "verification        passed" in done.stdout


def test_the_run_revokes_its_device_tokens(stack):
    report = simulate_fleet(stack, "--devices", "2", "--sales", "2", "--retry-share", "0", "--invalid-share", "0")
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        published = [json.loads(raw)["device"] for raw in client.hvals(tokens.tokens_key(stack.settings.redis_prefix))]
    finally:
        client.close()

    assert report.passed
    assert published and not [device for device in published if device.startswith(f"sim-{report.run_id}-")]


def test_sales_a_batch_result_refuses_for_now_are_sent_again_until_accepted(stack_factory):
    bounded = stack_factory("bound", SALESYNC_MAX_QUEUED="40")  # fewer than one batch of 50
    bounded.tokens = {"admin": bounded.token}

    report = simulate_fleet(bounded, "--batch", "50", "--connections", "8")

    assert sum(sale.answers.count(503) for sale in report.sales) > 0  # the queue's bound was reached
    assert_counts_add_up(report)
