"""The JavaScript client's queue and catalogue logic, under Node's own test runner (clients/js/test/*.test.mjs)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed: the JS client's tests need `node`")
def test_the_js_client_queue_passes_its_node_tests():
    files = sorted(str(path.relative_to(CLIENT)) for path in CLIENT.glob("test/*.test.mjs"))  # not the helpers
    run = subprocess.run(["node", "--test", *files], cwd=CLIENT, capture_output=True, text=True, timeout=120)
    report = run.stdout + run.stderr
    counts = {name: int(n) for name, n in re.findall(r"^# (tests|pass|fail) (\d+)$", report, re.MULTILINE)}

    assert run.returncode == 0, report
    assert counts["tests"] > 0 and counts["pass"] == counts["tests"] and counts["fail"] == 0, report
