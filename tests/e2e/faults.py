"""What every fault test shares: stacks of their own, a till that retries like a real one, and
the tally that says, from the database, whether anything was lost or applied twice.

Each fault test sends a known set of sales, injects its fault, recovers, and ends with
`tally(...)`, which counts sent, answered 202/200, applied, rejected, lost and applied twice,
checks stock = start - sold, prints one `fault-tally` line (shown by `pytest -rP`; the figures
in docs/reliability.md come from it) and asserts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import redis
import requests
from sqlalchemy import func, select

from config.settings import Settings
from postgres.engine import make_sessions
from postgres.tables import RejectedSale, Sale, SaleItem
from tests.builders import issue_tokens, stock
from tests.polling import wait_until
from tests.processes import Stack, environment

START_STOCK = Decimal(100000)


def make_stack(engine, database_url: str, redis_url: str, prefix: str, data_dir, **env: str) -> Stack:
    """A stack of its own (not started), with an admin token in `stack.token`; `env` overrides."""
    settings = Settings(database_url=database_url, redis_url=redis_url, data_dir=data_dir, redis_prefix=prefix)
    # No rate limits: a burst of hundreds of sales from one till is the point here.
    stack = Stack(
        settings,
        environment(settings, SALESYNC_RATE_LIMIT="0", SALESYNC_SALES_RATE="0", SALESYNC_RETRY_AFTER="1", **env),
    )
    stack.sessions = make_sessions(engine)
    device = f"till-{uuid.uuid4().hex[:8]}"
    stack.token = issue_stack_tokens(stack, device, admin=True)[device]
    return stack


def discard(stack: Stack) -> None:
    """Tear a stack down at once: its test is over, so a crash is as good as a shutdown."""
    for role in list(stack.processes):
        stack.kill(role)


@contextmanager
def restarted_on_exit(stack: Stack, roles: tuple[str, ...] = ("worker",)):
    """Start a role again whenever its process exits, as docker-compose's `restart: unless-stopped`
    does; yields the list of (role, exit code) restarts."""
    restarts: list[tuple[str, int]] = []
    stop = threading.Event()

    def watch():
        while not stop.wait(0.2):
            for role in roles:
                process = stack.processes.get(role)
                if process is not None and process.poll() is not None:
                    restarts.append((role, process.returncode))
                    stack.start(role)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield restarts
    finally:
        stop.set()
        watcher.join()


def issue_stack_tokens(stack: Stack, *devices: str, admin: bool | None = None, store: str = "main") -> dict[str, str]:
    """Tokens for devices of this stack, published to its Redis (see `issue_tokens`); device -> token."""
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        return issue_tokens(stack.sessions, client, stack.settings.redis_prefix, *devices, admin=admin, store=store)
    finally:
        client.close()


@dataclass(frozen=True)
class Answer:
    external_id: str
    status: int | None  # None: the connection failed, no answer
    sent: float  # time.monotonic() when sent
    received: float
    retry_after: str | None


class Till:
    """Sends sales over HTTP and keeps every answer; `deliver` retries as a till does (503 and
    429 after Retry-After, a lost connection after a moment) until the sale is accepted."""

    def __init__(self, stack: Stack):
        self.url, self.token = stack.url, stack.token
        self.answers: list[Answer] = []
        self.local = threading.local()

    def http(self) -> requests.Session:
        if not hasattr(self.local, "http"):
            self.local.http = requests.Session()
            self.local.http.headers["Authorization"] = f"Token {self.token}"
        return self.local.http

    def product(self, sku_prefix: str = "HOT") -> int:
        answer = self.http().post(
            f"{self.url}/api/products/",
            timeout=10,
            json={"sku": f"{sku_prefix}-{uuid.uuid4().hex[:8]}", "name": "Hot", "stock": str(START_STOCK)},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def post(self, sale: dict) -> Answer:
        sent = time.monotonic()
        try:
            response = self.http().post(f"{self.url}/api/sales/", json=sale, timeout=30)
            status, retry_after = response.status_code, response.headers.get("Retry-After")
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
            # No answer, or half of one (a worker killed mid-reply): the till cannot know, and retries.
            status, retry_after = None, None
        answer = Answer(sale["external_id"], status, sent, time.monotonic(), retry_after)
        self.answers.append(answer)
        return answer

    def deliver(self, sale: dict, timeout: float = 90) -> int:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.post(sale)
            if answer.status in (200, 202):
                return answer.status
            assert answer.status in (None, 429, 503), f"unexpected answer {answer.status} for {sale['external_id']}"
            assert answer.status is None or answer.retry_after, "a 503 or 429 without Retry-After"
            assert time.monotonic() < deadline, f"sale {sale['external_id']} never accepted"
            time.sleep(0.1 if answer.status is None else min(float(answer.retry_after), 1.0))

    def post_batch(self, sales: list[dict]) -> None:
        """Post sales 500 at a time through the batch endpoint; every one must be accepted."""
        for start in range(0, len(sales), 500):
            chunk = sales[start : start + 500]
            sent = time.monotonic()
            response = self.http().post(f"{self.url}/api/sales/batch/", json={"sales": chunk}, timeout=60)
            assert response.status_code == 200, response.text
            for sale, result in zip(chunk, response.json()["results"]):
                self.answers.append(Answer(sale["external_id"], result["status"], sent, time.monotonic(), None))
                assert result["status"] in (200, 202), result


def sales(product_id: int, count: int, quantity: str = "1.5") -> list[dict]:
    return [
        {
            "external_id": str(uuid.uuid4()),
            "items": [{"product": product_id, "quantity": quantity, "unit_price": "2.00"}],
        }
        for _ in range(count)
    ]


def applied(stack: Stack, external_ids) -> int:
    with stack.sessions() as session:
        return session.scalar(select(func.count()).select_from(Sale).where(Sale.external_id.in_(list(external_ids))))


def settled(stack: Stack, external_ids) -> int:
    ids = list(external_ids)
    with stack.sessions() as session:
        rejected = session.scalar(
            select(func.count()).select_from(RejectedSale).where(RejectedSale.external_id.in_(ids))
        )
    return applied(stack, ids) + rejected


@dataclass(frozen=True)
class Tally:
    sent: int  # distinct sales sent
    answered_202: int  # answers, not sales: a retried sale can be answered more than once
    answered_200: int
    accepted: int  # distinct sales answered 202 or 200 at least once
    applied: int
    rejected: int
    lost: int  # accepted, yet neither applied nor rejected
    applied_twice: int  # more item rows than lines sent, or both applied and rejected
    stock_start: Decimal
    sold: Decimal  # what the applied sales of the product add up to
    stock: Decimal
    other_answers: str = ""  # e.g. "503=12 none=3" (none: the connection failed)

    def line(self, name: str) -> str:
        return (
            f"fault-tally {name}: sent={self.sent} answered_202={self.answered_202} "
            f"answered_200={self.answered_200} applied={self.applied} rejected={self.rejected} "
            f"lost={self.lost} applied_twice={self.applied_twice} "
            f"stock={self.stock} (start {self.stock_start} - sold {self.sold})"
            + (f" other answers: {self.other_answers}" if self.other_answers else "")
        )


def tally(
    stack: Stack,
    name: str,
    sent: list[dict],
    answers: list[Answer],
    product_id: int,
    rejected: int = 0,
    timeout: float = 120,
    stock_start: Decimal = START_STOCK,
) -> Tally:
    """Wait (bounded) until every accepted sale is settled, count, print and assert exactly once."""
    codes = Counter(answer.status for answer in answers)
    accepted = {answer.external_id for answer in answers if answer.status in (200, 202)}
    wait_until(lambda: settled(stack, accepted) >= len(accepted), timeout, interval=0.2)
    ids = [sale["external_id"] for sale in sent]
    lines = {sale["external_id"]: sale["items"] for sale in sent}
    with stack.sessions() as session:
        item_rows = dict(
            session.execute(
                select(Sale.external_id, func.count(SaleItem.id))
                .join(SaleItem, SaleItem.sale_id == Sale.id)
                .where(Sale.external_id.in_(ids))
                .group_by(Sale.external_id)
            ).all()
        )
        rejected_ids = set(session.scalars(select(RejectedSale.external_id).where(RejectedSale.external_id.in_(ids))))
        level = stock(session, product_id)
    sold = sum(
        (Decimal(item["quantity"]) for eid in item_rows for item in lines[eid] if item.get("product") == product_id),
        Decimal(0),
    )
    result = Tally(
        sent=len(ids),
        answered_202=codes[202],
        answered_200=codes[200],
        accepted=len(accepted),
        applied=len(item_rows),
        rejected=len(rejected_ids),
        lost=len(accepted - set(item_rows) - rejected_ids),
        applied_twice=sum(1 for eid, count in item_rows.items() if count > len(lines[eid]))
        + len(set(item_rows) & rejected_ids),
        stock_start=stock_start,
        sold=sold,
        stock=level,
        other_answers=" ".join(
            f"{code or 'none'}={n}" for code, n in sorted(codes.items(), key=str) if code not in (200, 202)
        ),
    )
    print(result.line(name))
    assert result.lost == 0, result.line(name)
    assert result.applied_twice == 0, result.line(name)
    assert result.stock == stock_start - sold, result.line(name)  # a sale applied twice shows here too
    assert result.rejected == rejected, result.line(name)
    assert result.accepted == result.sent, result.line(name)  # every sale sent was accepted in the end
    return result
