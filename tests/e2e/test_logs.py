"""Following one sale as an operator would: by its external_id, with grep through the JSON logs of the
real processes, and in Flower (which `salesync flower` never serves without a login unless asked)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from cli.embedded import free_port
from tests.processes import ROOT

pytestmark = pytest.mark.e2e
LOGIN = ("ops", f"pw-{uuid.uuid4().hex}")


def lines_about(path, external_id: str) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if external_id in line]


def test_one_sale_can_be_followed_from_intake_to_apply_in_the_json_logs(stack, api):
    till = api["till-1"]
    product = api["admin"].post("/api/products/", {"sku": f"LOG-{uuid.uuid4().hex[:8]}", "name": "Logged"}).json()
    good = {
        "external_id": str(uuid.uuid4()),
        "items": [{"product": product["id"], "quantity": "2", "unit_price": "1.00"}],
    }
    bad = {
        "external_id": str(uuid.uuid4()),
        "items": [{"product": 2_000_000_000, "quantity": "1", "unit_price": "1.00"}],
    }
    for body in (good, bad):
        assert till.post("/api/sales/", body).status_code == 202
    assert till.settled(good["external_id"])["status"] == "applied"
    assert till.settled(bad["external_id"])["status"] == "rejected"

    web_log, worker_log = stack.settings.data_dir / "web.log", stack.settings.data_dir / "worker.log"
    deadline = time.monotonic() + 30  # a worker logs its batch right after settling it
    while not (lines_about(worker_log, good["external_id"]) and lines_about(worker_log, bad["external_id"])):
        assert time.monotonic() < deadline, "the worker never logged the sales it applied"
        time.sleep(0.2)

    [received] = [line for line in lines_about(web_log, good["external_id"]) if line.get("outcome")]
    assert received["external_id"] == good["external_id"] and received["outcome"] == "new"
    assert received["device"].startswith("till-1-")
    [applied] = [line for line in lines_about(worker_log, good["external_id"]) if line.get("outcome")]
    assert applied["outcome"] == "applied" and applied["device"] == received["device"]
    assert applied["task"] == "salesync.drain" and applied["task_id"] and applied["batch"] >= 1
    assert applied["trigger"] in ("kick", "beat", "more")
    # The drain's own summary line carries the same task id and names the sale.
    assert any(
        line.get("task_id") == applied["task_id"] and "succeeded" in line["message"]
        for line in lines_about(worker_log, good["external_id"])
    )

    [rejected] = [line for line in lines_about(worker_log, bad["external_id"]) if line.get("outcome")]
    assert rejected["outcome"] == "rejected" and rejected["level"] == "WARNING"
    assert "product 2000000000 does not exist" in rejected["reason"]

    # The web process logs nothing but JSON lines, and no process ever logs a token.
    assert all(json.loads(line) for line in web_log.read_text().splitlines())
    for log in (web_log, worker_log, stack.settings.data_dir / "beat.log"):
        assert not any(token in log.read_text() for token in stack.tokens.values())


def without_login(env: dict) -> dict:
    return {name: value for name, value in env.items() if name not in ("SALESYNC_FLOWER_AUTH", "FLOWER_BASIC_AUTH")}


def test_flower_refuses_to_start_without_a_login():
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "flower"],
        cwd=ROOT,
        env=without_login(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SALESYNC_FLOWER_AUTH" in done.stderr and "--no-auth" in done.stderr


@pytest.fixture
def flower(stack):
    port = free_port()
    env = {**without_login(stack.env), "SALESYNC_FLOWER_AUTH": ":".join(LOGIN)}
    with open(stack.settings.data_dir / "flower.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "flower", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url, timeout=5)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "flower did not start; see flower.log"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()  # salesync stops its Flower child on SIGTERM
        process.wait(30)


def test_flower_asks_for_the_login_and_shows_which_sales_a_drain_applied(flower, stack, api):
    assert requests.get(f"{flower}/tasks", timeout=10).status_code == 401
    assert requests.get(f"{flower}/tasks", auth=("ops", "wrong"), timeout=10).status_code == 401
    assert requests.get(f"{flower}/tasks", auth=LOGIN, timeout=10).status_code == 200

    till = api["till-2"]
    product = api["admin"].post("/api/products/", {"sku": f"FLW-{uuid.uuid4().hex[:8]}", "name": "Watched"}).json()
    batch = [
        {"external_id": str(uuid.uuid4()), "items": [{"product": product["id"], "quantity": "1", "unit_price": "3.00"}]}
        for _ in range(8)
    ]
    assert till.post("/api/sales/batch/", {"sales": batch}).status_code == 200
    body = batch[-1]  # last of its drain's batch: a result listing only the first few ids would miss it
    assert till.settled(body["external_id"])["status"] == "applied"

    deadline = time.monotonic() + 30  # Flower learns of tasks from the workers' events
    while True:
        # What an operator types in the search box of Flower's Tasks page.
        tasks = requests.get(
            f"{flower}/api/tasks", params={"search": body["external_id"]}, auth=LOGIN, timeout=10
        ).json()
        found = [task for task in tasks.values() if task["name"] == "salesync.drain"]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert found, "no drain task in Flower names the sale it applied"
    [task] = found
    assert task["state"] == "SUCCESS" and body["external_id"] in task["result"].split("'applied_ids': ")[1]
    assert "'trigger'" in task["kwargs"] and re.search(r"'applied': [1-8],", task["result"])
    assert not any(token in str(tasks) for token in stack.tokens.values())
