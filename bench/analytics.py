"""Benchmark the analytics rollup against the query it replaces, and the cost of keeping it fresh.

    python -m bench.analytics [--items 10000000] [--database-url URL] [--keep]

Works in a database of its own (salesync_bench_<random>) on the server DATABASE_URL names, else
on an embedded PostgreSQL, and drops it at the end unless --keep. Loads years of sales history
with set-based SQL, then times, as medians after a warm-up: the endpoint's one-year daily query
for the busiest product through the rollup, the same answer computed directly over sale_items,
and one incremental refresh after 1,000 sales applied the way the worker applies them. Every
rollup answer is checked against the direct one, so a fast wrong rollup cannot pass.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import make_url, text

from domain.analytics import DayTotal, report
from domain.sale import Line, Sale
from postgres import rollup
from postgres.apply import apply_isolating
from postgres.engine import make_engine, make_sessions, migrate
from tests.servers import postgres_database

PRODUCTS = 200
BUSY = 1  # the product with a fifth of all lines
YEARS = 3
CHUNK = 1_000_000  # sale_items per load statement
NEW_SALES, APPLY_BATCH = 1_000, 100
RESULTS = Path(__file__).with_name("RESULTS.md")

# Sale s has 2 or 3 lines; everything about line j is a hash of (s, j), so the sales and the
# sale_items statements agree on it. Product 1 gets 20% of the lines, the rest a skewed tail.
LINES = """
    SELECT s AS sale_id, p.id AS product_id, :t0 + (s - 1) * :step AS sold_at,
           q.quantity, p.unit_price, q.quantity * p.unit_price AS subtotal
    FROM generate_series(:lo, :hi) AS s
    CROSS JOIN LATERAL generate_series(1, 2 + s % 2) AS j
    CROSS JOIN LATERAL (SELECT (hashint8(s * 4 + j) & 2147483647) / 2147483648.0::float8 AS u,
                               hashint8(-(s * 4 + j)) & 2147483647 AS r) AS h
    JOIN products p ON p.id = CASE WHEN h.u < 0.2 THEN 1 ELSE 2 + floor(199 * ((h.u - 0.2) / 0.8) ^ 2)::int END
    CROSS JOIN LATERAL (SELECT CASE WHEN p.id % 10 = 0 THEN ((1 + h.r % 2500) / 1000.0)::numeric(18, 3)
                                    ELSE (1 + h.r % 4)::numeric(18, 3) END AS quantity) AS q
"""
DIRECT = text("""
    SELECT (sold_at AT TIME ZONE :tz)::date AS day, sum(quantity), sum(subtotal) FROM sale_items
    WHERE product_id = :product AND sold_at >= (CAST(:start AS date)::timestamp AT TIME ZONE :tz)
      AND sold_at < ((CAST(:end AS date) + 1)::timestamp AT TIME ZONE :tz)
    GROUP BY 1
""")
MISMATCHES = text("""
    WITH direct AS (SELECT product_id, store, (sold_at AT TIME ZONE :tz)::date AS day,
                           sum(CASE WHEN is_return THEN -quantity ELSE quantity END) AS quantity,
                           sum(CASE WHEN is_return THEN -subtotal ELSE subtotal END) AS revenue,
                           count(DISTINCT sale_id) FILTER (WHERE NOT is_return) AS sale_count
                    FROM sale_items GROUP BY 1, 2, 3),
         kept AS (SELECT product_id, store, day, quantity, revenue, sale_count FROM sales_daily)
    SELECT (SELECT count(*) FROM (TABLE direct EXCEPT TABLE kept) a)
         + (SELECT count(*) FROM (TABLE kept EXCEPT TABLE direct) b)
""")


def bench_database(url: str | None, keep: bool):
    """A new, empty database on the given (or an embedded) server, dropped afterwards unless kept."""
    scratch = Path(tempfile.mkdtemp(prefix="salesync-bench-"))
    return postgres_database(url, scratch, prefix="salesync_bench", keep=keep)


def timed(action):
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def without_keys(connection, tables: list[str]) -> list[str]:
    """Drop the secondary indexes, unique and foreign keys of `tables`; return the DDL restoring them."""
    keys = connection.execute(
        text("""
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype FROM pg_constraint
        WHERE contype IN ('u', 'f') AND conrelid::regclass::text = ANY(:tables) ORDER BY contype DESC"""),
        {"tables": tables},
    ).all()
    indexes = connection.execute(
        text("""
        SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(:tables)
        AND indexname NOT IN (SELECT conname FROM pg_constraint)"""),
        {"tables": tables},
    ).all()
    for table, name, _, _ in reversed(keys):  # foreign keys first
        connection.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        connection.execute(text(f'DROP INDEX "{name}"'))
    return (
        [definition for _, definition in indexes]  # indexes, unique keys, then foreign keys
        + [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition, _ in keys]
    )


def load(engine, items: int, end: datetime) -> int:
    """History: `items` sale_items in 2.5-line sales, evenly over YEARS up to `end`; returns sales.
    Loads without the secondary indexes and keys, then restores them exactly as migrated."""
    sales = max(items * 2 // 5, 1)
    step = timedelta(days=365 * YEARS) / sales
    with engine.begin() as connection:
        restore = without_keys(connection, ["sales", "sale_items"])
        connection.execute(
            text("""
            INSERT INTO products (id, sku, name, is_volatile, unit_price, reorder_level)
            SELECT p, 'BENCH-' || lpad(p::text, 4, '0'), 'Bench product ' || p, false,
                   (100 + abs(hashint4(p)) % 99900)::numeric / 10000, 0
            FROM generate_series(1, :n) AS p"""),
            {"n": PRODUCTS},
        )
        connection.execute(text("SELECT setval(pg_get_serial_sequence('products', 'id'), :n)"), {"n": PRODUCTS})
    sales_per_chunk = CHUNK * 2 // 5
    for lo in range(1, sales + 1, sales_per_chunk):
        hi = min(lo + sales_per_chunk - 1, sales)
        bounds = {"lo": lo, "hi": hi, "t0": end - step * sales, "step": step}
        chunk_s = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL work_mem = '256MB'"))
            connection.execute(
                text(f"""
                INSERT INTO sales (id, external_id, device, source_device, client_timestamp,
                                   received_at, synced_at, updated_at, total)
                SELECT sale_id, md5('salesync-bench-' || sale_id)::uuid, 'till-' || sale_id % 25, 'bench',
                       sold_at, sold_at + interval '90 seconds', sold_at + interval '91 seconds',
                       sold_at + interval '91 seconds', sum(subtotal)
                FROM ({LINES}) AS l GROUP BY sale_id, sold_at"""),
                bounds,
            )
            connection.execute(
                text(f"""
                INSERT INTO sale_items (sale_id, product_id, sold_at, quantity, unit_price, subtotal)
                SELECT * FROM ({LINES}) AS l ORDER BY sale_id"""),
                bounds,
            )
        print(f"  loaded sales {lo:,}-{hi:,} in {time.perf_counter() - chunk_s:.1f} s", flush=True)
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        connection.execute(text("SELECT setval(pg_get_serial_sequence('sales', 'id'), :n)"), {"n": sales})
        restore_s = time.perf_counter()
        for statement in restore:
            connection.execute(text(statement))
    print(f"  restored {len(restore)} indexes and keys in {time.perf_counter() - restore_s:.1f} s", flush=True)
    return sales


def new_sales(rng: random.Random, now: datetime) -> list[dict]:
    """1,000 sales as tills queue them: most from the last hour, a quarter from 1-6 weeks back."""
    sales = []
    for _ in range(NEW_SALES):
        back = timedelta(days=rng.randint(7, 42)) if rng.random() < 0.25 else timedelta(0)
        at = now - back - timedelta(minutes=rng.uniform(0, 60))
        lines = tuple(
            Line(Decimal(rng.randint(1, 4)), None, BUSY if rng.random() < 0.2 else rng.randint(2, PRODUCTS))
            for _ in range(rng.choice((2, 3)))
        )
        sales.append(Sale(str(uuid.uuid4()), "till-bench", "bench", at, now, lines).to_dict())
    return sales


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000_000, help="sale_items to load")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or None)
    parser.add_argument("--tz", default="Europe/Berlin", help="reporting time zone (one with DST)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--no-write", action="store_true", help=f"do not append to {RESULTS.name}")
    args = parser.parse_args()
    with bench_database(args.database_url, args.keep) as url:
        migrate(url)
        engine = make_engine(url)
        try:
            run(engine, args)
        finally:
            engine.dispose()


def run(engine, args) -> None:
    sessions, tz = make_sessions(engine), args.tz
    now = datetime.now(UTC)
    load_s, sales = timed(lambda: load(engine, args.items, now))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        vacuum_s, _ = timed(lambda: connection.execute(text("VACUUM ANALYZE")))
        items = connection.scalar(text("SELECT count(*) FROM sale_items"))
        server = connection.scalar(text("SHOW server_version")).split()[0]
    print(f"loaded {items:,} sale_items in {sales:,} sales in {load_s:.1f} s; VACUUM ANALYZE {vacuum_s:.1f} s")

    def refresh():
        with sessions.begin() as session:
            return rollup.refresh(session, tz)

    rebuild_s, rebuilt = timed(refresh)
    assert rebuilt.rebuilt
    print(f"full rebuild: {rebuilt.days_restated:,} product-days in {rebuild_s:.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE sales_daily"))  # what autovacuum would soon do

    end = now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
    start = end - timedelta(days=364)

    def via_rollup():
        with sessions() as session:
            return report(rollup.daily_totals(session, start, end, BUSY), start, end, "daily")

    def direct():
        with sessions() as session:
            rows = session.execute(DIRECT, {"tz": tz, "product": BUSY, "start": start, "end": end})
            return report([DayTotal(*row) for row in rows], start, end, "daily")

    rollup_times, direct_times = [], []
    for rep in range(args.repeat + 1):  # interleaved, so machine noise hits both alike
        rollup_s, kept = timed(via_rollup)
        direct_s, computed = timed(direct)
        assert kept == computed and kept.quantity > 0, "the rollup disagrees with sale_items"
        if rep:
            rollup_times.append(rollup_s)
            direct_times.append(direct_s)

    rng, refresh_times, apply_rates, restated = random.Random(7), [], [], []
    for rep in range(args.repeat + 1):
        batch = new_sales(rng, datetime.now(UTC))
        apply_s, _ = timed(
            lambda batch=batch: [
                apply_isolating(sessions, batch[i : i + APPLY_BATCH], datetime.now(UTC))
                for i in range(0, len(batch), APPLY_BATCH)
            ]
        )
        refresh_s, refreshed = timed(refresh)
        assert not refreshed.rebuilt
        if rep:
            refresh_times.append(refresh_s)
            apply_rates.append(NEW_SALES / apply_s)
            restated.append(refreshed.days_restated)
    assert via_rollup() == direct(), "the rollup disagrees with sale_items after incremental refreshes"
    with sessions() as session:
        check_s, mismatches = timed(lambda: session.scalar(MISMATCHES, {"tz": tz}))
    assert mismatches == 0, f"{mismatches} rollup rows differ from a recomputation"
    print(f"checked all of sales_daily against a recomputation from sale_items in {check_s:.1f} s: identical")

    figures = {
        "rollup_ms": statistics.median(rollup_times) * 1000,
        "direct_ms": statistics.median(direct_times) * 1000,
        "refresh_ms": statistics.median(refresh_times) * 1000,
        "rebuild_s": rebuild_s,
        "apply_rate": statistics.median(apply_rates),
        "restated": int(statistics.median(restated)),
    }
    figures["ratio"] = figures["direct_ms"] / figures["rollup_ms"]
    figures["refresh_per_direct"] = figures["refresh_ms"] / figures["direct_ms"]
    table = (
        f"| rollup query | direct query | direct / rollup | refresh after {NEW_SALES:,} sales | full rebuild |\n"
        f"|---|---|---|---|---|\n"
        f"| {figures['rollup_ms']:.1f} ms | {figures['direct_ms']:.1f} ms | {figures['ratio']:.0f}x "
        f"| {figures['refresh_ms']:.0f} ms ({figures['refresh_per_direct']:.1f}x one direct query) "
        f"| {figures['rebuild_s']:.1f} s |"
    )
    print("\n" + table + "\n")
    print(
        f"apply: {figures['apply_rate']:.0f} sales/s (batches of {APPLY_BATCH}); "
        f"each refresh restated ~{figures['restated']} product-days"
    )
    if not args.no_write:
        write_results(args, items, sales, load_s, server, table, figures, start, end)


def write_results(args, items, sales, load_s, server, table, f, start, end) -> None:
    command = "python -m bench.analytics " + shlex.join(sys.argv[1:])
    if args.database_url and "--database-url" not in sys.argv:
        command = f"DATABASE_URL={make_url(args.database_url).render_as_string(hide_password=True)} {command}"
    section = f"""
## Analytics rollup

{date.today().isoformat()}, `{command.strip()}`

Machine: 2 cores, shared with other work and noisy, so compare the ratios, not the absolute times.
PostgreSQL {server}, server defaults. Loaded {items:,} sale_items in {sales:,} sales over {YEARS} years,
{PRODUCTS} products, product {BUSY} on a fifth of the lines, in {load_s:.0f} s. Query: product {BUSY},
{start} to {end}, daily, reporting zone {args.tz}. Times are medians of {args.repeat} runs after a warm-up;
every rollup answer was asserted equal to the direct one, and after the incremental refreshes all of
sales_daily was checked equal to a recomputation from sale_items.

{table}

Side figure: applying the {NEW_SALES:,} sales ({f["restated"]} product-days restated per refresh) ran
at {f["apply_rate"]:.0f} sales/s through apply_isolating in batches of {APPLY_BATCH}.

The rollup answers the endpoint's one-year daily query {f["ratio"]:.0f}x faster than aggregating sale_items,
and keeping it current costs {f["refresh_ms"]:.0f} ms per refresh after {NEW_SALES:,} sales.
"""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n")
    with RESULTS.open("a") as results:
        results.write(section)
    print(f"appended to {RESULTS.name}")


if __name__ == "__main__":
    main()
