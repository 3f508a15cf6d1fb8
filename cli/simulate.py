"""`salesync simulate`: a fleet of offline tills bursting their queued sales (and returns) at a
running salesync over HTTP, then a check against PostgreSQL that every accepted sale was applied
exactly once and that each store's stock adds up."""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from cli.fleet import (
    OTHER_TRACKED,
    Catalog,
    Mix,
    PlannedSale,
    answer_problems,
    applied_window,
    assign_stores,
    make_catalog,
    plan_fleet,
    store_codes,
    verify,
)
from cli.services import publish_tokens, resolve
from config.settings import Settings
from postgres import tokens
from postgres.catalog import StoreTaken, create_store, list_stores
from postgres.engine import make_engine, make_sessions

try:
    from cli.tills import Http, OutOfTime, Progress, poll_round, send_device
except ModuleNotFoundError as missing:  # requests, the HTTP client, comes with the `simulate` extra
    if missing.name != "requests":
        raise
    REQUESTS_MISSING = "salesync simulate: requests is not installed: pip install 'salesync[simulate]'"
else:
    REQUESTS_MISSING = ""

POLL_INTERVAL = 0.2


def add_options(parser: argparse.ArgumentParser) -> None:
    def count(text: str) -> int:
        if int(text) < 1:
            raise argparse.ArgumentTypeError("must be 1 or more")
        return int(text)

    def amount(text: str) -> int:
        if int(text) < 0:
            raise argparse.ArgumentTypeError("must be 0 or more")
        return int(text)

    def share(text: str) -> float:
        if not 0 <= float(text) <= 1:
            raise argparse.ArgumentTypeError("must be between 0 and 1")
        return float(text)

    def batch(text: str) -> int:
        if not 1 <= int(text) <= 1000:
            raise argparse.ArgumentTypeError("must be between 1 and 1000")
        return int(text)

    mix = Mix()
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the salesync to drive (default: %(default)s)")
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("SALESYNC_ADMIN_TOKEN"),
        help="creates the run's products (default: $SALESYNC_ADMIN_TOKEN); "
        "write --admin-token=TOKEN, as a token may begin with '-'",
    )
    parser.add_argument(
        "--devices", type=count, default=20, help="simulated tills, each with its own token (default: %(default)s)"
    )
    parser.add_argument(
        "--sales", type=count, default=20, help="offline sales queued on each till (default: %(default)s)"
    )
    parser.add_argument(
        "--connections",
        type=count,
        default=16,
        help="requests in flight at most (a till uses one at a time) (default: %(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=batch,
        default=1,
        help="sales per request: 1 posts to /api/sales/, more to /api/sales/batch/ (default: %(default)s)",
    )
    parser.add_argument(
        "--retry-share", type=share, default=0.1, help="share of sales sent again unchanged (default: %(default)s)"
    )
    parser.add_argument(
        "--invalid-share", type=share, default=0.02, help="share of invalid sales (expect 400) (default: %(default)s)"
    )
    parser.add_argument(
        "--stores",
        type=count,
        default=1,
        help="stores the tills are spread over: main, and S1, S2, ... created if missing (default: %(default)s)",
    )
    parser.add_argument(
        "--return-share",
        type=share,
        default=0.0,
        help="share of each till's sales that are returns of its own earlier sales, never of more than "
        "they sold (default: %(default)s)",
    )
    parser.add_argument(
        "--hot-products",
        type=count,
        default=mix.hot_products,
        help="tracked products with the most stock movement (default: %(default)s)",
    )
    parser.add_argument(
        "--hot-share",
        type=share,
        default=mix.hot_share,
        help="share of sale lines that sell a hot product (default: %(default)s)",
    )
    parser.add_argument(
        "--volatile-products",
        type=amount,
        default=mix.volatile_products,
        help="products sold without stock tracking (default: %(default)s)",
    )
    parser.add_argument(
        "--volatile-share",
        type=share,
        default=mix.volatile_share,
        help="share of sale lines that sell a volatile product (default: %(default)s)",
    )
    parser.add_argument(
        "--inline-products",
        type=amount,
        default=mix.inline_products,
        help="products created by a sale's product_data, every till racing to create them (default: %(default)s)",
    )
    parser.add_argument(
        "--inline-share",
        type=share,
        default=mix.inline_share,
        help="share of sale lines that sell an inline product; the lines left over sell "
        f"{OTHER_TRACKED} other tracked products (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, help="makes the product mix and quantities repeatable")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds the whole run may take (default: %(default)s)"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the check against PostgreSQL (tokens are still issued there)"
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="salesync simulate", description=__doc__)
    add_options(root)
    return root


@dataclass
class SimulationReport:
    run_id: str
    args: argparse.Namespace
    sales: list[PlannedSale] = field(default_factory=list)
    catalog: Catalog | None = None
    resent: int = 0
    retries: int = 0  # transport retries: 503, 429, 5xx, lost connections
    latencies: list[float] = field(default_factory=list)
    send_seconds: float = 0.0
    settle_seconds: float | None = None  # from the first send until polls saw every accepted sale settled
    apply_seconds: float | None = None  # first sale received to last applied, server side
    verified: bool | None = None  # None: --no-verify
    problems: list[str] = field(default_factory=list)

    def count(self, predicate) -> int:
        return sum(1 for sale in self.sales if predicate(sale))

    @property
    def sent(self) -> int:
        return self.count(lambda s: s.answers)

    @property
    def accepted(self) -> int:
        return self.count(lambda s: s.accepted)

    @property
    def invalid(self) -> int:
        return self.count(lambda s: s.answers[:1] == [400])

    @property
    def applied(self) -> int:
        return self.count(lambda s: s.status == "applied")

    @property
    def rejected(self) -> int:
        return self.count(lambda s: s.status == "rejected")

    @property
    def returns_sent(self) -> int:
        return self.count(lambda s: s.is_return and s.answers)

    @property
    def returns_applied(self) -> int:
        return self.count(lambda s: s.is_return and s.status == "applied")

    @property
    def passed(self) -> bool:
        return not self.problems


def run(args: argparse.Namespace, settings: Settings) -> SimulationReport:
    report = SimulationReport(uuid.uuid4().hex[:8], args)
    rng = random.Random(args.seed)
    with ExitStack() as stack:
        settings = resolve(settings, stack, start_redis=False)
        if not settings.redis_url:
            raise SystemExit("salesync simulate: no Redis; set REDIS_URL or start `salesync serve`")
        engine = make_engine(settings.postgres)
        stack.callback(engine.dispose)
        names = [f"sim-{report.run_id}-{n}" for n in range(1, args.devices + 1)]
        stores = assign_stores(names, store_codes(args.stores))
        with make_sessions(engine).begin() as session:
            open_stores(session, store_codes(args.stores))
            device_tokens = {name: tokens.create(session, name, False, store=stores[name]) for name in names}
        stack.callback(revoke, engine, settings, names)
        publish_tokens(settings)
        http = Http(args.url, args.timeout)
        stack.callback(http.close)
        pool = stack.enter_context(ThreadPoolExecutor(args.connections))
        try:
            drive(report, http, pool, rng, device_tokens, stores)
        except (OutOfTime, KeyboardInterrupt):
            http.stop()
            pool.shutdown(cancel_futures=True)
            report.problems.append("stopped before the end (--timeout or Ctrl-C)")
        report.retries, report.latencies = http.retries, sorted(http.latencies)
        report.problems += answer_problems(report.sales)
        report.apply_seconds = applied_window(engine, report.sales)
        if not args.no_verify and report.catalog is not None:
            problems = verify(engine, report.catalog, report.sales)
            report.verified = not problems
            report.problems += problems
    return report


def open_stores(session: Session, codes: list[str]) -> None:
    """The run's stores, created unless an earlier run made them: S1 .. are shared by every run
    (each run's own products keep their stock apart)."""
    known = {store.code for store in list_stores(session)}
    for code in codes:
        if code not in known:
            with suppress(StoreTaken):  # a run started at the same moment made it
                create_store(session, code, f"Simulated store {code}")


def drive(
    report: SimulationReport,
    http: Http,
    pool: ThreadPoolExecutor,
    rng: random.Random,
    device_tokens: dict[str, str],
    stores: dict[str, str] | None = None,
) -> None:
    """Products first, then every till's burst, then polling until every accepted sale settled.
    `stores`: each till's store (default main)."""
    args = report.args
    catalog = make_catalog(report.run_id, mix_of(args), store_codes(args.stores))
    report.catalog = create_products(http, pool, catalog, args.admin_token)
    devices = plan_fleet(
        rng,
        device_tokens,
        args.sales,
        report.catalog,
        args.retry_share,
        args.invalid_share,
        stores,
        args.return_share,
    )
    report.sales = [sale for device in devices for sale in device.sales]
    report.resent = sum(len(device.resend) for device in devices)
    progress = Progress("sending", len(report.sales) + report.resent)
    started = time.monotonic()
    try:
        list(pool.map(lambda device: send_device(http, device, args.batch, progress), devices))
    finally:
        report.send_seconds = time.monotonic() - started
        progress.close()
    if wait_settled(http, pool, [sale for sale in report.sales if sale.accepted], args.connections * 2):
        report.settle_seconds = time.monotonic() - started


def create_products(http: Http, pool: ThreadPoolExecutor, catalog: Catalog, admin_token: str) -> Catalog:
    """The run's own products through the API; inline ones are left for the tills' product_data."""
    made = [product for product in catalog.products if not product.inline]
    answers = pool.map(
        lambda product: http.call("POST", "/api/products/", admin_token, product.create_body(catalog.stores)), made
    )
    for product, response in zip(made, answers):
        if response is None or response.status_code != 201:
            answer = "no answer" if response is None else f"{response.status_code} {response.text[:200]}"
            raise SystemExit(f"salesync simulate: could not create product {product.sku}: {answer}")
        product.id = response.json()["id"]
    return catalog


def wait_settled(http: Http, pool: ThreadPoolExecutor, accepted: list[PlannedSale], chunk: int) -> bool:
    """Poll until every accepted sale is applied or rejected; False if the run's time ran out first."""
    progress = Progress("applying", len(accepted))
    pending = sorted(accepted, key=lambda sale: sale.accepted_at or 0.0)
    while pending and not http.out_of_time():
        poll_round(http, pool, pending, chunk)
        pending = [sale for sale in pending if sale.status not in ("applied", "rejected")]
        progress.update(len(accepted) - len(pending))
        if pending:
            time.sleep(POLL_INTERVAL)
    progress.close()
    return not pending


def revoke(engine, settings: Settings, names: list[str]) -> None:
    with make_sessions(engine).begin() as session:
        for name in names:
            tokens.revoke(session, name, datetime.now(UTC))
    publish_tokens(settings)


def percentile(ordered: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of them at or below it."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(report: SimulationReport) -> str:
    args, sent, accepted = report.args, report.sent, report.accepted

    def rate(seconds: float | None) -> str:
        return f"{accepted / seconds:.1f}" if seconds else "-"

    applied = (
        f"{rate(report.apply_seconds)} ({report.apply_seconds:.2f} s from the first sale received "
        "to the last applied, server clocks)"
        if report.apply_seconds
        else "- (not every sale was applied)"
    )
    settled = (
        f"{report.settle_seconds:.2f} s after the first send"
        if report.settle_seconds
        else f"not within --timeout {args.timeout:g} s"
    )
    skipped = "skipped (--no-verify)" if args.no_verify else "not run: the run stopped early"
    verification = {None: skipped, True: "passed", False: "FAILED"}[report.verified]
    ms = [f"{percentile(report.latencies, share) * 1000:.1f} ms" for share in (0.5, 0.99)] if report.latencies else []
    latency = f"p50 {ms[0]}, p99 {ms[1]} ({len(report.latencies)} requests)" if ms else "- (no answers)"
    stores = f" in {args.stores} stores" if args.stores > 1 else ""
    lines = [
        f"salesync simulate run {report.run_id}: {args.devices} devices{stores} x {args.sales} sales, "
        f"batch {args.batch}, {args.connections} connections, {args.url}",
        f"  sales sent          {sent} (+{report.resent} re-sent with the same external_id)",
        f"  accepted (202/200)  {accepted}",
        f"  invalid (400)       {report.invalid}",
        f"  retries             {report.retries} (503, 429, 5xx or connection lost; backoff honouring Retry-After)",
        f"  applied             {report.applied}",
        f"  rejected            {report.rejected}",
        *(
            [f"  returns             {report.returns_sent} sent, {report.returns_applied} applied (among the sales)"]
            if args.return_share > 0
            else []
        ),
        f"  sales/s accepted    {rate(report.send_seconds)} ({report.send_seconds:.2f} s to send everything)",
        f"  sales/s applied     {applied}",
        f"  all seen settled    {settled} (polling each till's statuses in bulk)",
        f"  intake latency      {latency}",
        f"  verification        {verification}",
        f"  result              {'PASS' if report.passed else 'FAIL'}",
    ]
    lines += [f"  problem: {problem}" for problem in report.problems[:10]]
    if len(report.problems) > 10:
        lines.append(f"  ... and {len(report.problems) - 10} more problems")
    return "\n".join(lines)


def mix_of(args: argparse.Namespace) -> Mix:
    return Mix(
        args.hot_products,
        args.hot_share,
        args.volatile_products,
        args.volatile_share,
        args.inline_products,
        args.inline_share,
    )


def command(args: argparse.Namespace, settings: Settings) -> int:
    if REQUESTS_MISSING:
        print(REQUESTS_MISSING, file=sys.stderr)
        return 2
    if not args.admin_token:
        print("salesync simulate: an admin token is needed: --admin-token or SALESYNC_ADMIN_TOKEN", file=sys.stderr)
        return 2
    for problem in mix_of(args).problems():
        print(f"salesync simulate: {problem}", file=sys.stderr)
        return 2
    report = run(args, settings)
    print(summary(report))
    return 0 if report.passed else 1


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    return command(parser().parse_args(argv), settings or Settings.from_env())


if __name__ == "__main__":
    sys.exit(main())
