"""Simulated tills on the wire: the HTTP client they share, sending their queues, polling status in bulk.

They behave as the API asks a real till to: a sale is sent again, unchanged, after 503, 429, a
5xx or a lost connection, with exponential backoff and jitter, waiting at least Retry-After.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from concurrent.futures import Executor

import requests

from cli.fleet import Device, PlannedSale
from domain.batching import batched

RETRYABLE = {429, 500, 502, 503, 504}
RESULT_RETRIES = 30  # rounds of re-sending a batch's sales refused for now, each after a backoff
MAX_ATTEMPTS = 8
REQUEST_TIMEOUT = 10.0  # seconds for one request; the run's --timeout bounds everything
POLL_BATCH = 1000  # external_ids per POST /api/sales/status/, the server's limit


class OutOfTime(Exception):
    """The run's --timeout has passed."""


class Http:
    """Thread-safe client: a requests.Session per thread, retries with backoff, per-request latency."""

    def __init__(self, base_url: str, timeout: float):
        self.base_url = base_url.rstrip("/")
        self.deadline = time.monotonic() + timeout
        self.latencies: list[float] = []
        self.retries = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def stop(self) -> None:
        self.deadline = 0.0

    def call(
        self, method: str, path: str, token: str, body: dict | None = None, timed: bool = False
    ) -> requests.Response | None:
        """The final answer, or None if none came; raises OutOfTime once the run's time is up.
        `timed`: record each answered attempt's latency (the intake's, not the polls')."""
        response = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise OutOfTime
            started = time.monotonic()
            try:
                response = self._session().request(
                    method,
                    self.base_url + path,
                    json=body,
                    headers={"Authorization": f"Token {token}"},
                    timeout=min(REQUEST_TIMEOUT, remaining),
                )
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
                response = None
            else:
                if timed:
                    with self._lock:
                        self.latencies.append(time.monotonic() - started)
                if response.status_code not in RETRYABLE:
                    return response
            if attempt < MAX_ATTEMPTS:
                with self._lock:
                    self.retries += 1
                time.sleep(min(backoff(attempt, response), max(0.0, self.deadline - time.monotonic())))
        return response

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        for session in self._sessions:
            session.close()


def backoff(attempt: int, response: requests.Response | None) -> float:
    """Exponential backoff with full jitter; a Retry-After from the server is a floor."""
    delay = random.uniform(0, min(10.0, 0.1 * 2**attempt))
    retry_after = response.headers.get("Retry-After", "") if response is not None else ""
    return max(delay, float(retry_after)) if retry_after.isdigit() else delay


def send_device(http: Http, device: Device, batch: int, progress: Progress) -> None:
    """A till back online: its queue in order, K sales a request, then the sales it re-sends."""
    for queue in (device.sales, device.resend):
        for start in range(0, len(queue), batch):
            group = queue[start : start + batch]
            for attempt in range(RESULT_RETRIES):
                # A batch's results may refuse some sales for now (503: the queue at its bound):
                # send those again, after a backoff, as a real till does.
                retry = []
                for sale, code in zip(group, post_sales(http, device.token, group)):
                    sale.answers.append(code)
                    sale.token = device.token
                    if code in (200, 202) and sale.accepted_at is None:
                        sale.accepted_at = time.monotonic()
                    elif code in RETRYABLE:
                        retry.append(sale)
                if not retry:
                    break
                group = retry
                time.sleep(backoff(attempt, None) + 1)
            progress.advance(len(queue[start : start + batch]))


def post_sales(http: Http, token: str, group: list[PlannedSale]) -> list[int]:
    if len(group) == 1:
        response = http.call("POST", "/api/sales/", token, group[0].body, timed=True)
        return [0 if response is None else response.status_code]
    response = http.call("POST", "/api/sales/batch/", token, {"sales": [sale.body for sale in group]}, timed=True)
    if response is None or response.status_code != 200:
        return [0 if response is None else response.status_code] * len(group)
    return [result["status"] for result in response.json()["results"]]


def poll_status(http: Http, token: str, sales: list[PlannedSale]) -> None:
    """One till's sales (up to POLL_BATCH) in one POST /api/sales/status/."""
    try:
        response = http.call(
            "POST", "/api/sales/status/", token, {"external_ids": [sale.external_id for sale in sales]}
        )
    except OutOfTime:
        return
    if response is None or response.status_code != 200:
        return
    for sale, result in zip(sales, response.json()["results"]):
        if result["status"] == 200:
            sale.status, sale.error = result["body"]["status"], result["body"].get("error")


def poll_round(http: Http, pool: Executor, pending: list[PlannedSale], chunk: int) -> None:
    """Poll in bulk: one request per till and up to POLL_BATCH of its sales, `chunk` requests at a time, those
    holding the oldest pending sales first; stop at the first chunk whose sales are all still queued: sales
    apply roughly in the order they were accepted, so the rest would be too."""
    by_till: dict[str, list[PlannedSale]] = {}
    for sale in pending:
        by_till.setdefault(sale.token, []).append(sale)
    asks = sorted(
        ((token, group) for token, sales in by_till.items() for group in batched(sales, POLL_BATCH)),
        key=lambda ask: ask[1][0].accepted_at or 0.0,
    )
    for step in batched(asks, chunk):
        list(pool.map(lambda ask: poll_status(http, *ask), step))
        if all(sale.status in (None, "queued") for _, group in step for sale in group):
            return


class Progress:
    """A single-line bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, total: int, stream=sys.stderr):
        self.label, self.total, self.stream = label, total, stream
        self.done, self.started, self.drawn = 0, time.monotonic(), 0.0
        self._lock = threading.Lock()

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self._set(self.done + count)

    def update(self, done: int) -> None:
        with self._lock:
            self._set(done)

    def _set(self, done: int) -> None:
        self.done = done
        if time.monotonic() - self.drawn >= 0.1:
            self._draw()

    def close(self) -> None:
        with self._lock:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        self.drawn = time.monotonic()
        filled = int(30 * self.done / self.total) if self.total else 30
        rate = self.done / max(self.drawn - self.started, 1e-9)
        self.stream.write(
            f"\r{self.label:<9} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {rate:7.1f}/s"
        )
        self.stream.flush()
