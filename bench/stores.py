"""Apply throughput of a hot product sold in one store against the same sold in many.

Before stores, every sale of a product updated its one products row: concurrent batches
selling a hot product queued on that row. Stock is now kept per (product, store), so batches of
different stores hold different rows. This applies the same sales (each with the hot product
and one other) through `apply_isolating` from several threads at once, once with every sale in
`main` and once spread over `--stores` stores, alternating, and reports sales/s and the ratio.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python -m bench.stores
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from bench.analytics import bench_database
from domain.sale import Line, Sale
from postgres import catalog
from postgres.apply import apply_isolating
from postgres.engine import make_engine, make_sessions, migrate

OTHER_PRODUCTS = 50


def plan(rng: random.Random, count: int, products: list[int], stores: list[str]) -> list[dict]:
    now = datetime.now(UTC)
    return [
        Sale(
            external_id=str(uuid.uuid4()),
            device="bench",
            source_device="bench",
            client_timestamp=now,
            received_at=now,
            lines=(Line(Decimal(1), Decimal("2.50"), products[0]), Line(Decimal(1), None, rng.choice(products[1:]))),
            store=rng.choice(stores),
        ).to_dict()
        for _ in range(count)
    ]


def run(sessions, sales: list[dict], threads: int, batch: int) -> float:
    """Sales a second, the sales split over `threads` threads applying `batch` at a time."""
    shares = [sales[i::threads] for i in range(threads)]
    errors: list[Exception] = []

    def work(share: list[dict]) -> None:
        try:
            for i in range(0, len(share), batch):
                apply_isolating(sessions, share[i : i + batch], datetime.now(UTC))
        except Exception as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return len(sales) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--stores", type=int, default=8)
    parser.add_argument("--sales", type=int, default=20_000, help="sales a round")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(7)
    with bench_database(args.database_url, keep=False) as url:
        migrate(url)
        engine = make_engine(url)
        sessions = make_sessions(engine)
        stores = ["main"] + [f"S{n}" for n in range(1, args.stores)]
        with sessions.begin() as session:
            for code in stores[1:]:
                catalog.create_store(session, code, code)
            products = [
                catalog.create_product(
                    session, {}, sku=f"P{n}", name=f"P{n}", is_volatile=False, unit_price=Decimal(1)
                ).id
                for n in range(OTHER_PRODUCTS + 1)
            ]
        rates: dict[str, list[float]] = {"one store": [], f"{args.stores} stores": []}
        for _ in range(args.rounds):
            for name, where in (("one store", ["main"]), (f"{args.stores} stores", stores)):
                rates[name].append(run(sessions, plan(rng, args.sales, products, where), args.threads, args.batch))
        engine.dispose()
    one, many = (statistics.median(rates[name]) for name in rates)
    print(
        f"apply, {args.threads} threads x batches of {args.batch}, every sale with the hot product, "
        f"medians of {args.rounds} alternating rounds of {args.sales:,} sales:"
    )
    for name, values in rates.items():
        print(f"  {name}: {statistics.median(values):,.0f} sales/s  ({', '.join(f'{v:,.0f}' for v in values)})")
    print(f"  many stores / one store: {many / one:.2f}x")


if __name__ == "__main__":
    main()
