"""`salesync serve` itself, as an operator runs it: a child killed right after start-up is
started again, and the service keeps taking and applying sales."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress

import psutil
import pytest

from tests.e2e.conftest import Api
from tests.e2e.faults import make_stack
from tests.processes import ROOT

pytestmark = pytest.mark.e2e


def celery_workers(serve: subprocess.Popen) -> list[psutil.Process]:
    """serve's Celery worker (its main process, not the pool it forks)."""
    found = []
    for child in psutil.Process(serve.pid).children():
        with suppress(psutil.NoSuchProcess):
            if {"celery", "worker"} <= set(child.cmdline()):
                found.append(child)
    return found


def test_a_worker_killed_just_after_start_up_is_started_again_and_sales_still_apply(
    engine, database_url, redis_url, run_prefix, tmp_path
):
    stack = make_stack(engine, database_url, redis_url, f"{run_prefix}serve-{time.time_ns()}:", tmp_path)
    launched = time.monotonic()
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "serve",
        "--port",
        str(stack.port),
        "--web-workers",
        "1",
        "--worker-concurrency",
        "1",
    ]
    with open(tmp_path / "serve.log", "ab") as log:
        # Its own process group, so whatever is left of it can be killed at the end.
        serve = subprocess.Popen(
            command,
            env=stack.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    stack.processes["serve"] = serve
    try:
        stack.wait_ready()
        [worker] = celery_workers(serve)
        worker.kill()
        # Within serve's start-up window, where a signal used to stop everything.
        print(f"worker killed {time.monotonic() - launched:.1f} s after serve was started")

        api = Api(stack.url, stack.token)
        external_id = str(uuid.uuid4())
        answer = api.post(
            "/api/sales/",
            {
                "external_id": external_id,
                "items": [
                    {
                        "product_data": {"sku": f"X-{uuid.uuid4().hex[:8]}", "name": "X", "is_volatile": False},
                        "quantity": "1",
                        "unit_price": "1.00",
                    }
                ],
            },
        )
        assert answer.status_code == 202, answer.text
        assert api.settled(external_id, timeout=60)["status"] == "applied"
        assert serve.poll() is None
        assert [w.pid for w in celery_workers(serve)] not in ([], [worker.pid])

        stack.stop("serve")
        assert serve.returncode == 0
        output = (tmp_path / "serve.log").read_text()
        assert "worker exited (killed by SIGKILL); starting it again in 1 s" in output
        assert "failed to start" not in output
    finally:
        with suppress(ProcessLookupError):
            os.killpg(serve.pid, signal.SIGKILL)  # anything left behind (a killed worker's pool)
        serve.wait()
