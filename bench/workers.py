"""Web worker model: single-sale intake under gunicorn's sync and gevent workers, each against
the bare Flask baseline (bench/bare_app.py) under the same worker class, in the same run.

    python -m bench.workers [--duration 6] [--rounds 5] [--classes sync,gevent,gthread] [--no-write]

Two workers each (as `salesync serve` and docker-compose run them), the service's own
web/gunicorn_conf.py with only `--worker-class` changed; load: wrk -t2 -c32 with
bench/post_sale.lua, rounds alternating over the four servers; medians, and gevent over sync
round by round, the two measured back to back. No Celery worker runs,
so only intake is measured. PostgreSQL and Redis as for bench/throughput.py; the run's own
database and key prefix are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import redis

from bench.throughput import (
    BENCH,
    Processes,
    children,
    cpu_seconds,
    describe_wrk,
    free_port,
    gunicorn,
    log,
    make_products,
    make_token,
    publish,
    run_wrk,
    wait_http,
)
from config.settings import Settings
from postgres.engine import make_engine, make_sessions, migrate
from tests.processes import environment
from tests.servers import delete_prefix, postgres_database

CLASSES = ("sync", "gevent")  # the default; --classes may add gthread
GTHREAD_THREADS = 16  # threads a gthread worker runs (gunicorn's default is 1)


def class_args(worker_class: str) -> list[str]:
    threads = ["--threads", str(GTHREAD_THREADS)] if worker_class == "gthread" else []
    return ["--worker-class", worker_class, *threads]


def measure(ctx: dict, duration: int, rounds: int, classes: tuple[str, ...] = CLASSES) -> dict:
    procs, client, prefix = ctx["procs"], ctx["redis"], ctx["prefix"]
    env = environment(
        ctx["settings"].model_copy(update=dict(redis_prefix=prefix)),
        SALESYNC_ROLLUP_INTERVAL="60",
        SALESYNC_RATE_LIMIT="1000000000",
        SALESYNC_RATE_BURST="1000000000",
        SALESYNC_SALES_RATE="0",
    )
    servers = {}  # in round order: the two salesync servers back to back, then the two bare ones
    for app, module in (("real", "web.app:create_app()"), ("bare", "bench.bare_app:create_app()")):
        for worker_class in classes:
            port = free_port()
            procs.start(f"{worker_class}-{app}", [*gunicorn(module, port), *class_args(worker_class)], env)
            servers[(worker_class, app)] = port
    for (_, app), port in servers.items():
        wait_http(f"http://127.0.0.1:{port}/readyz" if app == "real" else f"http://127.0.0.1:{port}/")
        run_wrk(f"http://127.0.0.1:{port}/api/sales/", ctx["till"], ctx["products"], 1, 2)  # warm-up
    results: dict = {key: [] for key in servers}
    checks = []
    try:
        for n in range(rounds):
            for key, port in servers.items():
                before = client.xlen(f"{prefix}sales")
                workers = children(procs.running[f"{key[0]}-{key[1]}"].pid)
                cpu_before = cpu_seconds(workers)
                r = run_wrk(f"http://127.0.0.1:{port}/api/sales/", ctx["till"], ctx["products"], 1, duration)
                r["cpu_us"] = (cpu_seconds(workers) - cpu_before) / max(1, r["requests"]) * 1e6
                results[key].append(r)
                log(describe_wrk(f"  round {n + 1} {key[0]} {key[1]}", r) + f", {r['cpu_us']:.0f} us CPU/request")
                if key[1] == "real":
                    added = client.xlen(f"{prefix}sales") - before
                    ok = r["non2xx"] == 0 and r["errors"] == 0 and added >= r["requests"]
                    checks.append(ok)
                    log(
                        f"    check: {added} sales added to the stream for {r['requests']} answered "
                        f"({'ok' if ok else 'MISMATCH'})"
                    )
    finally:
        for name in list(procs.running):
            procs.stop(name)

    def med(key, field):
        return statistics.median(r[field] for r in results[key])

    # gevent over sync, round by round (the two ran seconds apart, under the same background load)
    gevent, sync = results.get(("gevent", "real"), []), results.get(("sync", "real"), [])
    paired = [g["rps"] / s["rps"] for g, s in zip(gevent, sync)]
    paired_p99 = [g["p99_ms"] / s["p99_ms"] for g, s in zip(gevent, sync)]
    return {
        "classes": classes,
        "checks_ok": all(checks),
        "paired": paired,
        "paired_p99": paired_p99,
        "figures": {
            key: {field: med(key, field) for field in ("rps", "p99_ms", "p50_ms", "cpu_us")} for key in results
        },
    }


def report(result: dict, duration: int, rounds: int, command: str) -> str:
    f = result["figures"]
    out = [
        "",
        f"## Web worker model: {' vs '.join(result['classes'])} (issue: slow clients, single-sale intake)",
        "",
        f"`{command}`",
        "",
        "Machine: 2 cores, shared and noisy: compare the ratios. Load only against 127.0.0.1: wrk -t2 -c32 with "
        "bench/post_sale.lua, single-sale `POST /api/sales/`. Each server: gunicorn with 2 workers and "
        f"web/gunicorn_conf.py, only `--worker-class` differing (gthread: `--threads {GTHREAD_THREADS}`); the bare "
        "Flask app (bench/bare_app.py) under the same worker class is each one's baseline. Median of "
        f"{rounds} rounds of {duration} s each, the servers alternating (the salesync ones back to back, then the "
        "bare ones); no Celery worker running. CPU: the gunicorn workers' user + system time per request.",
        "",
        "| worker class | salesync req/s | p50 | p99 | CPU/request | bare req/s | bare p99 | bare CPU/request "
        "| req/s ratio to bare | p99 ratio to bare |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for worker_class in result["classes"]:
        real, bare = f[(worker_class, "real")], f[(worker_class, "bare")]
        out.append(
            f"| {worker_class} | {real['rps']:.0f} | {real['p50_ms']:.1f} ms | {real['p99_ms']:.1f} ms | "
            f"{real['cpu_us']:.0f} us | {bare['rps']:.0f} | {bare['p99_ms']:.1f} ms | {bare['cpu_us']:.0f} us | "
            f"{real['rps'] / bare['rps']:.2f}x | {real['p99_ms'] / bare['p99_ms']:.2f}x |"
        )
    if not result["paired"]:
        return "\n".join([*out, ""])
    paired = ", ".join(f"{ratio:.2f}x" for ratio in result["paired"])
    paired_p99 = ", ".join(f"{ratio:.2f}x" for ratio in result["paired_p99"])
    out += [
        "",
        f"salesync under gevent against salesync under sync, round by round (the two back to back): req/s "
        f"{paired} (median **{statistics.median(result['paired']):.2f}x**); p99 {paired_p99} (median "
        f"{statistics.median(result['paired_p99']):.2f}x). Every salesync request answered 202 and the stream grew "
        f"by the number answered: {'yes' if result['checks_ok'] else 'NO, see the log'}.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.workers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=6, help="seconds per wrk round (at most 10)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--classes", default=",".join(CLASSES), help="worker classes, of sync, gevent, gthread")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of appending it")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install -y wrk)")
    duration = min(args.duration, 10)
    server_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    prefix = f"salesync-bench-{uuid.uuid4().hex[:8]}:"
    with (
        tempfile.TemporaryDirectory(prefix="salesync-bench-") as scratch,
        postgres_database(server_url, Path(scratch)) as database_url,
    ):
        procs = Processes(Path(scratch))
        client = redis.Redis.from_url(redis_url)
        engine = make_engine(database_url)
        try:
            migrate(database_url)
            sessions = make_sessions(engine)
            ctx = {
                "settings": Settings(
                    database_url=database_url, redis_url=redis_url, data_dir=Path(scratch), redis_prefix=prefix
                ),
                "procs": procs,
                "redis": client,
                "prefix": prefix,
                "products": make_products(sessions),
                "till": make_token(sessions, "bench-till"),
            }
            publish(sessions, client, prefix)
            result = measure(ctx, duration, args.rounds, tuple(args.classes.split(",")))
        finally:
            procs.stop_all()
            engine.dispose()
            delete_prefix(redis_url, prefix)
            client.close()
    command = "python -m bench.workers" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    section = report(result, duration, args.rounds, command.strip())
    print(section)
    if not args.no_write:
        with open(BENCH / "RESULTS.md", "a") as results_md:
            results_md.write(section + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
