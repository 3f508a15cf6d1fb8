"""Operator commands: `salesync product import`, `salesync status`, `salesync check`."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack

from cli.services import connect
from config.settings import Settings
from domain.sale import canonical_uuid
from postgres import products_import
from recovery import reconcile
from web import views

LISTED = 20  # unapplied sales `check` lists one by one


def add_commands(commands) -> None:
    """Register the commands on the `salesync` parser."""
    product = commands.add_parser("product", help="manage the product catalogue")
    actions = product.add_subparsers(dest="action", required=True)
    load = actions.add_parser(
        "import",
        help="create products from a CSV file, all or nothing",
        description="Columns (header line required, any order): "
        f"{', '.join(products_import.COLUMNS)}; sku and name are required. "
        "Every row is checked first; any error imports nothing.",
    )
    load.add_argument("file", help="the CSV file (UTF-8)")
    load.add_argument(
        "--update",
        action="store_true",
        help="update products whose sku exists (name, unit_price, is_volatile, reorder_level; "
        "never stock) instead of refusing the file",
    )
    load.set_defaults(handler=product_import)
    status = commands.add_parser("status", help="a sale's status, as GET /api/sales/{external_id}/ answers it")
    status.add_argument("external_id")
    status.add_argument("--json", action="store_true", help="compact one-line JSON (default: indented)")
    status.set_defaults(handler=sale_status)
    check = commands.add_parser(
        "check",
        help="reconcile Redis against PostgreSQL: sales recorded but not applied",
        description="Exit code 0: all is well; 1: a sale waits longer than "
        "--older-than seconds, or Redis and PostgreSQL disagree.",
    )
    check.add_argument(
        "--older-than",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="a sale not applied after this long is a problem (default 300)",
    )
    check.add_argument("--json", action="store_true", help="the report as one JSON object on stdout, for scripts")
    check.set_defaults(handler=check_command)


def product_import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        with open(args.file, newline="", encoding="utf-8-sig") as source:
            rows = products_import.read(source)
    except OSError as error:
        return fail(f"cannot read {args.file}: {error.strerror}")
    except UnicodeDecodeError:
        return fail(f"{args.file} is not UTF-8 text")
    except products_import.ImportFailed as failed:
        return report_failure(args.file, failed)
    bar = ProgressBar(len(rows))
    with ExitStack() as stack:
        sessions, _ = connect(settings, stack, with_redis=False, upgrade=True)
        try:
            with sessions.begin() as session:
                imported = products_import.write(session, rows, args.update, progress=bar.update)
        except products_import.ImportFailed as failed:
            bar.close()
            return report_failure(args.file, failed)
        bar.close()
    print(f"imported {args.file}: {imported.created} created, {imported.updated} updated")
    return 0


def report_failure(path: str, failed: products_import.ImportFailed) -> int:
    for error in failed.errors:
        print(f"{path}: {error}", file=sys.stderr)
    return fail(f"{len(failed.errors)} error(s) in {path}; nothing was imported")


def sale_status(args: argparse.Namespace, settings: Settings) -> int:
    external_id = canonical_uuid(args.external_id)
    if external_id is None:
        return fail(f"{args.external_id!r} is not a UUID")
    with ExitStack() as stack:
        sessions, intake = connect(settings, stack, with_redis=True)
        record = views.sale_record(intake, sessions, external_id)
    if record is None:
        return fail(f"no sale {external_id} is known")
    body = views.status_body(external_id, record)
    if args.json:
        print_json(body)
    else:
        print(json.dumps(body, indent=2))
    return 0


def check_command(args: argparse.Namespace, settings: Settings) -> int:
    with ExitStack() as stack:
        sessions, intake = connect(settings, stack, with_redis=True)
        assert intake is not None  # with_redis
        with sessions() as session:
            report = reconcile.check(intake, session)
    problems = report.problems(args.older_than)
    if args.json:
        print_json(check_document(report, problems, args.older_than))
        return 1 if problems else 0
    print(
        f"stream: {report.backlog} sale(s) waiting, {report.pending} of them taken by a worker and not yet acknowledged"
    )
    for consumer in report.consumers:
        print(f"  worker {consumer.name}: {consumer.pending} pending, idle {consumer.idle_seconds:.1f} s")
    oldest = f" (oldest {report.unapplied[0].age_seconds:.0f} s)" if report.unapplied else ""
    print(f"recorded but not applied: {len(report.unapplied)} sale(s){oldest}")
    for sale in report.unapplied[:LISTED]:
        where = "in the stream" if sale.in_stream else "NOT in the stream"
        print(
            f"  {sale.external_id}  device {sale.device or '?'}  received {sale.received_at.isoformat()}  "
            f"age {sale.age_seconds:.0f} s  {where}  attempts {sale.attempts}"
        )
    if len(report.unapplied) > LISTED:
        print(f"  ... and {len(report.unapplied) - LISTED} more")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if problems:
        return 1
    print(f"OK: no sale waits longer than {args.older_than:g} s")
    return 0


def check_document(report: reconcile.Reconciliation, problems: list[str], older_than: float) -> dict:
    """`check --json`: the text report's figures and lists, every unapplied sale included (not only the oldest 20)."""
    return {
        "ok": not problems,
        "older_than": older_than,
        "backlog": report.backlog,
        "pending": report.pending,
        "consumers": [
            {"name": consumer.name, "pending": consumer.pending, "idle_seconds": consumer.idle_seconds}
            for consumer in report.consumers
        ],
        "unapplied_count": len(report.unapplied),
        "oldest_age_seconds": report.unapplied[0].age_seconds if report.unapplied else None,
        "unapplied": [
            {
                "external_id": sale.external_id,
                "device": sale.device,
                "received_at": sale.received_at.isoformat(),
                "age_seconds": sale.age_seconds,
                "in_stream": sale.in_stream,
                "attempts": sale.attempts,
            }
            for sale in report.unapplied
        ],
        "unsettled": report.unsettled,
        "problems": problems,
    }


def print_json(document) -> None:
    """`--json`: one compact JSON document on one line of stdout, for scripts."""
    print(json.dumps(document, separators=(",", ":")))


def fail(message: str) -> int:
    print(f"salesync: {message}", file=sys.stderr)
    return 1


class ProgressBar:
    """`importing [#####.....] 500/1000` on stderr, redrawn in place; silent unless stderr is a terminal."""

    def __init__(self, total: int, width: int = 30):
        self.total, self.width = total, width
        self.shown = sys.stderr.isatty()
        self.drawn = False

    def update(self, done: int) -> None:
        if self.shown:
            self.drawn = True
            filled = self.width * done // max(self.total, 1)
            sys.stderr.write(f"\rimporting [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
