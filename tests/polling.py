"""Waiting, bounded, for something a test cannot be told about: a worker, a beat, a process."""

from __future__ import annotations

import time


def wait_until(predicate, timeout: float = 30, interval: float = 0.05):
    """Ask `predicate` until it answers something true, or `timeout` seconds have passed; its last answer."""
    deadline = time.monotonic() + timeout
    while not (answer := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return answer
