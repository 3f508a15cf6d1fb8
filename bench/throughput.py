"""Throughput under fleet bursts: intake (single and batch), apply, and a full simulated burst.

Every figure is a ratio against a baseline measured in the same run (the machine is shared and
noisy): a bare Flask app under the same gunicorn settings for intake, pgbench TPC-B for apply.

    python -m bench.throughput [--only intake|batch|apply|burst] [--duration 10] [--sales 100000]

PostgreSQL and Redis come from DATABASE_URL / REDIS_URL (defaults: the local servers). The run
creates its own database and Redis key prefix and removes both at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import redis
import requests
from sqlalchemy import create_engine, make_url, text

from config.settings import Settings, psycopg2_url
from domain.sale import Line, Sale
from postgres import catalog, tokens
from postgres.engine import make_engine, make_sessions, migrate
from redis_queue.intake import Intake
from tests.processes import environment
from tests.servers import delete_prefix, postgres_database

ROOT = Path(__file__).resolve().parent.parent
# The targets of the intake issue, as ratios measured in one run (bench/RESULTS.md).
SINGLE_TARGET = 0.5  # single-sale intake, x bare Flask's req/s
P99_TARGET = 3  # single-sale p99, x bare Flask's
BATCH_SALES_TARGET = 15_000  # batch intake, sales/s ...
BATCH_TARGET = 4  # ... or this many times the single-sale sales/s, whichever is harder
BENCH = ROOT / "bench"
PY = sys.executable
HOT = 5
PRODUCTS = 500


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Processes:
    """Child processes started by this run, each in its own session so it ends with all its children."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "ab") as out:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.running[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def gunicorn(app: str, port: int) -> list[str]:
    """The same settings as the service's own web role (tests/processes.py), any app."""
    return [
        PY,
        "-m",
        "gunicorn",
        "--config",
        "python:web.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--graceful-timeout",
        "5",
        "--no-control-socket",
        app,
    ]


def worker(concurrency: int = 2) -> list[str]:
    return [
        PY,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "--loglevel",
        "WARNING",
        "--concurrency",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        f"bench{time.time_ns()}@%h",
    ]


def beat(data_dir: Path) -> list[str]:
    return [
        PY,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "beat",
        "--loglevel",
        "WARNING",
        "--schedule",
        str(data_dir / f"beat-{time.time_ns()}"),
    ]


def free_port() -> int:
    from cli.embedded import free_port as pick

    return pick()


def added(client: redis.Redis, stream: str) -> int:
    """Entries ever added to the stream (Redis 7's XINFO field, which a worker's XDEL does not
    lower), or its length on an older Redis, where the count holds only while nothing applies."""
    if not client.exists(stream):
        return 0
    info = client.xinfo_stream(stream)
    return int(info.get("entries-added", info["length"]))


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU the processes have used so far (from /proc; 0 for one that is gone)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- setup


def make_products(sessions) -> list[int]:
    """HOT tracked products with a reorder level, then PRODUCTS - HOT others; the hot ids first."""
    ids = []
    with sessions.begin() as session:
        for n in range(PRODUCTS):
            hot = n < HOT
            product = catalog.create_product(
                session,
                sku=f"BENCH-{'HOT' if hot else 'P'}-{n}",
                name=f"Bench product {n}",
                is_volatile=n % 7 == 3,
                unit_price=Decimal("2.50"),
                stock_by_store={"main": Decimal(1_000_000 if hot else 0)},
                reorder_level=Decimal(10 if hot else 0),
            )
            ids.append(product.id)
    return ids


def make_token(sessions, device: str, admin: bool = False) -> str:
    with sessions.begin() as session:
        return tokens.create(session, device, admin)


def publish(sessions, client: redis.Redis, prefix: str) -> None:
    with sessions.begin() as session:
        tokens.publish(session, client, prefix)


# ---------------------------------------------------------------- 1 and 2: intake


def run_wrk(
    url: str, token: str, product_ids: list[int], batch: int, duration: int, connections: int = 32, threads: int = 2
) -> dict:
    env = {
        **os.environ,
        "SALESYNC_TOKEN": token,
        "SALESYNC_BATCH": str(batch),
        "SALESYNC_PRODUCTS": ",".join(map(str, product_ids)),
    }
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "post_sale.lua"),
        url,
    ]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60)
    line = next((text for text in out.stdout.splitlines() if text.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    result = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["p99_ms"] = result["p99_us"] / 1000
    result["p50_ms"] = result["p50_us"] / 1000
    result["errors"] = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return result


def describe_wrk(name: str, r: dict, batch: int = 1) -> str:
    extra = f", {r['rps'] * batch:.0f} sales/s" if batch > 1 else ""
    return (
        f"{name}: {r['requests']} requests in {r['duration_us'] / 1e6:.1f} s, {r['rps']:.0f} req/s{extra}, "
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, statuses {r['statuses']}, "
        f"non-2xx {r['non2xx']}, socket errors {r['errors']}"
    )


def intake_phase(ctx: dict, batch: int, rounds: int) -> dict:
    """Real app vs bare app under the same gunicorn settings, alternating rounds; medians."""
    settings, procs, client = ctx["settings"], ctx["procs"], ctx["redis"]
    prefix = f"{ctx['prefix']}intake{batch}:"
    publish(ctx["sessions"], client, prefix)
    # wrk posts with one till's token: the rate limiter still runs (its buckets are part of the
    # measured cost) but with limits no load here reaches.
    env = environment(
        settings.model_copy(update=dict(redis_prefix=prefix)),
        SALESYNC_ROLLUP_INTERVAL="60",
        SALESYNC_RATE_LIMIT="1000000000",
        SALESYNC_RATE_BURST="1000000000",
        SALESYNC_SALES_RATE="1000000000",
        SALESYNC_SALES_BURST="1000000000",
    )
    if ctx.get("full_stack"):  # the setting: a worker and beat run (and apply) during every round
        procs.start(f"worker-intake-{batch}", worker(2), env)
        procs.start(f"beat-intake-{batch}", beat(settings.data_dir), env)
    # The baselines: bare Flask, and for single sales also bare Flask plus one Redis Lua call (bench/bare_app.py).
    apps = {"real": "web.app:create_app()", "bare": "bench.bare_app:create_app()"}
    if batch == 1:
        apps["lua"] = "bench.bare_app:create_lua_app()"
    ports = {name: free_port() for name in apps}
    for name, app in apps.items():  # each server its own metrics directory, which it clears when it starts
        metrics_dir = {"PROMETHEUS_MULTIPROC_DIR": str(procs.logs / f"prometheus-{name}-{batch}")}
        procs.start(f"web-{name}-{batch}", gunicorn(app, ports[name]), {**env, **metrics_dir})
    for name in apps:
        url = f"http://127.0.0.1:{ports[name]}{'/readyz' if name == 'real' else '/'}"
        try:
            wait_http(url)
        except RuntimeError:
            tail = (procs.logs / f"web-{name}-{batch}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"web-{name}-{batch} did not answer at {url}; the end of its log:\n{tail}") from None
    stream = f"{prefix}sales"
    path = "/api/sales/" if batch == 1 else "/api/sales/batch/"
    results_of: dict[str, list] = {name: [] for name in apps}
    real, bare, checks = results_of["real"], results_of["bare"], []
    try:
        # warm-up: a couple of seconds each, not counted (the stream count check takes it into account)
        for port in ports.values():
            run_wrk(f"http://127.0.0.1:{port}{path}", ctx["till"], ctx["products"], batch, 2)
        for n in range(rounds):
            for name in ("bare", "lua", "real"):
                if name not in apps:
                    continue
                port, results = ports[name], results_of[name]
                before = added(client, stream)
                workers = children(procs.running[f"web-{name}-{batch}"].pid)
                spy = None
                if name == "real" and n == 0 and ctx.get("profile_intake"):
                    pid = workers[0]
                    spy = subprocess.Popen(
                        [
                            str(Path(PY).with_name("py-spy")),
                            "record",
                            "-d",
                            str(max(2, ctx["duration"] - 2)),
                            "-r",
                            "100",
                            "--idle",
                            "--format",
                            "raw",
                            "-o",
                            str(BENCH / f"profile-intake-{batch}.txt"),
                            "--pid",
                            str(pid),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                cpu_before = cpu_seconds(workers)
                r = run_wrk(f"http://127.0.0.1:{port}{path}", ctx["till"], ctx["products"], batch, ctx["duration"])
                # CPU per request of the gunicorn workers: steadier than req/s on a shared machine
                r["cpu_us"] = (cpu_seconds(workers) - cpu_before) / max(1, r["requests"]) * 1e6
                r["stream_added"] = added(client, stream) - before
                results.append(r)
                if spy is not None:
                    spy.wait(60)
                    ctx[f"intake_profile_{batch}"] = summarize_profile(BENCH / f"profile-intake-{batch}.txt")
                    for frame, share in ctx[f"intake_profile_{batch}"]:
                        log(f"  intake profile {share:6.1%} {frame}")
                cpu = f", {r['cpu_us']:.0f} us CPU/request"
                log(describe_wrk(f"  round {n + 1} {name} batch={batch}", r, batch) + cpu)
                if name == "real":
                    expected = r["requests"] * batch
                    ok = (
                        r["non2xx"] == 0
                        and r["errors"] == 0
                        and r["stream_added"] >= expected
                        and (batch > 1 or r["statuses"].get("202", 0) == r["requests"])
                    )
                    checks.append(ok)
                    log(
                        f"    check: {r['stream_added']} sales added to the stream for {expected} sent "
                        f"({'ok' if ok else 'MISMATCH'})"
                    )
    finally:
        for name in apps:
            procs.stop(f"web-{name}-{batch}")
        for name in ("worker", "beat"):  # started with --full-stack only; stop() passes over the others
            procs.stop(f"{name}-intake-{batch}")

    def med(rs, key):
        return statistics.median(r[key] for r in rs)

    return {
        "batch": batch,
        "real": real,
        "bare": bare,
        "checks_ok": all(checks),
        "real_rps": med(real, "rps"),
        "bare_rps": med(bare, "rps"),
        "real_p99_ms": med(real, "p99_ms"),
        "bare_p99_ms": med(bare, "p99_ms"),
        "real_cpu_us": med(real, "cpu_us"),
        "bare_cpu_us": med(bare, "cpu_us"),
        **(
            {"lua_rps": med(results_of["lua"], "rps"), "lua_cpu_us": med(results_of["lua"], "cpu_us")}
            if "lua" in apps
            else {}
        ),
    }


# ---------------------------------------------------------------- 3: apply


def pgbench(ctx: dict, seconds: int = 30) -> dict:
    url = make_url(psycopg2_url(ctx["server_url"]))
    name = f"salesync_pgbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(psycopg2_url(ctx["server_url"]), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = url.password
    conn = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    try:
        subprocess.run(["pgbench", "-i", "-q", *conn, name], env=env, check=True, capture_output=True, timeout=300)
        out = subprocess.run(
            ["pgbench", "-c4", "-j2", f"-T{seconds}", *conn, name],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        ).stdout
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    log(f"  pgbench -c4 -j2 -T{seconds} (scale 1): {tps:.0f} tps")
    return {"tps": tps, "output": out}


def plan_sales(count: int, product_ids: list[int], rng: random.Random) -> list[Sale]:
    """Two lines a sale; a fifth of the lines on the HOT tracked products, the rest over the others."""
    hot, rest = product_ids[:HOT], product_ids[HOT:]
    now = datetime.now(UTC)
    sales = []
    for _n in range(count):
        lines = tuple(
            Line(
                quantity=Decimal(rng.randint(1, 5)),
                unit_price=None if rng.random() < 0.5 else Decimal("2.40"),
                product_id=rng.choice(hot) if rng.random() < 0.2 else rng.choice(rest),
            )
            for _ in range(2)
        )
        sales.append(
            Sale(
                external_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                device="bench-till",
                source_device="bench",
                client_timestamp=now - timedelta(minutes=rng.randint(0, 600)),
                received_at=now,
                lines=lines,
            )
        )
    return sales


def empty_sales(engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "TRUNCATE sales, sale_items, rollup_pending, rejected_sales, stock_alerts, "
                "sales_daily RESTART IDENTITY CASCADE"
            )
        )


def apply_phase(ctx: dict, apply_batch: int, profile: bool) -> dict:
    settings, procs, client, engine = ctx["settings"], ctx["procs"], ctx["redis"], ctx["engine"]
    prefix = f"{ctx['prefix']}apply{apply_batch}:"
    empty_sales(engine)
    intake = Intake(client, prefix, settings.record_ttl)
    intake.ensure_group()
    sales = plan_sales(ctx["sales"], ctx["products"], random.Random(apply_batch))
    memory_before = client.info("memory")["used_memory"]
    started = time.monotonic()
    for start in range(0, len(sales), 1000):
        recorded = intake.record_many([(sale, sale.external_id) for sale in sales[start : start + 1000]])
        assert all(r.outcome == "new" for r in recorded)
    record_seconds = time.monotonic() - started
    memory_after = client.info("memory")["used_memory"]
    backlog = intake.backlog()
    log(
        f"  recorded {len(sales)} sales in {record_seconds:.1f} s; backlog {backlog}; Redis used_memory "
        f"+{(memory_after - memory_before) / 1e6:.1f} MB ({(memory_after - memory_before) / len(sales):.0f} bytes/sale)"
    )
    env = environment(
        settings.model_copy(update=dict(redis_prefix=prefix)),
        SALESYNC_APPLY_BATCH=str(apply_batch),
        SALESYNC_ROLLUP_INTERVAL="60",
        SALESYNC_RECLAIM_AFTER="60",
    )
    started = time.monotonic()
    w = procs.start(f"worker-{apply_batch}", worker(2), env)
    procs.start(f"beat-{apply_batch}", beat(settings.data_dir), env)
    spies, hwm, cpu = [], {}, {}
    profiled = False
    deadline = started + ctx["apply_timeout"]
    applied = 0
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            pool = children(w.pid)
            for pid in pool:
                try:
                    hwm[pid] = max(hwm.get(pid, 0), status_kb(pid, "VmHWM"))
                    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    cpu[pid] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
                except OSError:
                    pass
            backlog = intake.backlog()
            if profile and not profiled and len(pool) >= 2 and backlog < len(sales) - 5000:
                profiled = True
                spies = start_profiles(ctx, pool[0], pool[1])
            if backlog == 0:
                with engine.connect() as connection:
                    applied = connection.scalar(
                        text("SELECT (SELECT count(*) FROM sales) + (SELECT count(*) FROM rejected_sales)")
                    )
                if applied >= len(sales):  # settled, applied or rejected (reported apart below)
                    break
        wall = time.monotonic() - started
    finally:
        for spy in spies:
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
        procs.stop(f"beat-{apply_batch}")
        procs.stop(f"worker-{apply_batch}")
    with engine.connect() as connection:
        applied, first, last = connection.execute(
            text("SELECT count(*), min(synced_at), max(synced_at) FROM sales")
        ).one()
        rejected = connection.scalar(text("SELECT count(*) FROM rejected_sales"))
        items = connection.scalar(text("SELECT count(*) FROM sale_items"))
    window = (last - first).total_seconds() if first else None
    result = {
        "apply_batch": apply_batch,
        "sales": len(sales),
        "applied": applied,
        "rejected": rejected,
        "items": items,
        "wall_seconds": wall,
        "window_seconds": window,
        "backlog_left": intake.backlog(),
        "rate_wall": applied / wall,
        "rate_window": applied / window if window else None,
        "record_seconds": record_seconds,
        "redis_bytes_per_sale": (memory_after - memory_before) / len(sales),
        "worker_hwm_kb": max(hwm.values(), default=0),
        "worker_cpu_s": sum(cpu.values()),
        "pool": len(hwm),
    }
    log(
        f"  SALESYNC_APPLY_BATCH={apply_batch}: {applied} applied ({rejected} rejected, {items} items) in "
        f"{wall:.1f} s wall from worker start = {result['rate_wall']:.0f} sales/s; first-to-last commit "
        f"{window:.1f} s = {result['rate_window']:.0f} sales/s; pool children CPU {result['worker_cpu_s']:.1f} s; "
        f"peak RSS of a pool child {result['worker_hwm_kb'] / 1024:.0f} MB"
    )
    return result


def start_profiles(ctx: dict, child: int, other: int) -> list[subprocess.Popen]:
    """py-spy on two pool children for 10 s: a flame graph of one (on CPU only) and raw stacks of
    the other including idle time (where it waits for PostgreSQL and Redis)."""
    spy = shutil.which("py-spy") or str(Path(PY).with_name("py-spy"))
    log(f"  profiling pool children {child} and {other} for 10 s with py-spy")
    out = ctx["logs"]
    with open(out / "py-spy-svg.log", "wb") as svg_log, open(out / "py-spy-raw.log", "wb") as raw_log:
        svg = subprocess.Popen(
            [spy, "record", "-d", "10", "-r", "100", "-o", str(BENCH / "profile-apply.svg"), "--pid", str(child)],
            stdout=svg_log,
            stderr=subprocess.STDOUT,
        )
        raw = subprocess.Popen(
            [
                spy,
                "record",
                "-d",
                "10",
                "-r",
                "100",
                "--idle",
                "--format",
                "raw",
                "-o",
                str(out / "profile-apply.txt"),
                "--pid",
                str(other),
            ],
            stdout=raw_log,
            stderr=subprocess.STDOUT,
        )
    ctx["profile_raw"] = out / "profile-apply.txt"
    return [svg, raw]


def summarize_profile(path: Path, top: int = 15) -> list[tuple[str, float]]:
    """Inclusive share of samples per function of the project (and the driver calls that wait on
    PostgreSQL), from py-spy raw (collapsed) stacks; the Celery frames above them are left out."""
    ours = re.compile(
        r"\((domain|config|postgres|redis_queue|recovery|worker|web|cli)/|do_execute|do_commit|read_response|send_packed_command|"
        r"wsgi_app|handle_request|full_dispatch_request"
    )
    total, inclusive = 0, {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        seen = set()
        for frame in stack.split(";"):
            name = re.sub(r":\d+\)$", ")", frame.strip())
            if name and name not in seen and ours.search(name):
                seen.add(name)
                inclusive[name] = inclusive.get(name, 0) + n
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return [(name, count / total) for name, count in ranked] if total else []


# ---------------------------------------------------------------- 4: the burst


def burst_phase(ctx: dict, devices: int, per_device: int) -> dict:
    settings, procs, client = ctx["settings"], ctx["procs"], ctx["redis"]
    prefix = f"{ctx['prefix']}burst:"
    empty_sales(ctx["engine"])
    publish(ctx["sessions"], client, prefix)
    env = environment(
        settings.model_copy(update=dict(redis_prefix=prefix)),
        SALESYNC_ROLLUP_INTERVAL="60",
        SALESYNC_RECLAIM_AFTER="60",
    )
    port = free_port()
    procs.start("burst-web", gunicorn("web.app:create_app()", port), env)
    w = procs.start("burst-worker", worker(2), env)
    procs.start("burst-beat", beat(settings.data_dir), env)
    wait_http(f"http://127.0.0.1:{port}/readyz")
    hwm = {}
    argv = [
        str(Path(PY).with_name("salesync")),
        "simulate",
        "--url",
        f"http://127.0.0.1:{port}",
        f"--admin-token={ctx['admin']}",
        "--devices",
        str(devices),
        "--sales",
        str(per_device),
        "--batch",
        "100",
        "--seed",
        "1",
        "--timeout",
        str(ctx["burst_timeout"]),
    ]
    started = time.monotonic()
    try:
        sim = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        while sim.poll() is None:
            for pid in children(w.pid):
                with contextlib.suppress(OSError):
                    hwm[pid] = max(hwm.get(pid, 0), status_kb(pid, "VmHWM"))
            time.sleep(0.5)
        output = sim.stdout.read()
    finally:
        for name in ("burst-beat", "burst-worker", "burst-web"):
            procs.stop(name)
    wall = time.monotonic() - started
    log("  " + output.replace("\n", "\n  "))
    return {
        "output": output,
        "wall_seconds": wall,
        "returncode": sim.returncode,
        "worker_hwm_kb": max(hwm.values(), default=0),
        "argv": " ".join(argv[2:]).replace(ctx["admin"], "$ADMIN"),
    }


# ---------------------------------------------------------------- report


def report(ctx: dict, results: dict, command: str) -> str:
    today = datetime.now().strftime("%Y-%m-%d")
    out = [
        "",
        "## Throughput (issue: fleet bursts)",
        "",
        f"{today}, `{command}`",
        "",
        "Machine: 2 cores, shared with other work and noisy, so compare the ratios, not the absolute figures. "
        "Load only against 127.0.0.1. Web: gunicorn, 2 workers of the service's own class and settings "
        "(gevent, web/gunicorn_conf.py; GUNICORN_CMD_ARGS may override it for both servers); "
        "load: wrk -t2 -c32 with bench/post_sale.lua (a fresh external_id per sale, 2 lines, a product that "
        "exists); "
        + (
            "a Celery worker (2 processes) and beat run during every intake round, applying what salesync takes "
            "(--full-stack).",
            "no Celery worker runs during the intake steps, so only intake is measured.",
        )[not ctx.get("full_stack")],
        "",
    ]
    if "intake" in results:
        r = results["intake"]
        ratio, p99 = r["real_rps"] / r["bare_rps"], r["real_p99_ms"] / r["bare_p99_ms"]
        out += [
            "### 1. Single-sale intake (POST /api/sales/)",
            "",
            f"Median of {len(r['real'])} alternating {ctx['duration']} s rounds each.",
            "",
            "| | req/s | p99 |",
            "|---|---|---|",
            f"| salesync | {r['real_rps']:.0f} | {r['real_p99_ms']:.1f} ms |",
            f"| bare Flask (baseline) | {r['bare_rps']:.0f} | {r['bare_p99_ms']:.1f} ms |",
            f"| ratio | {ratio:.2f}x (target >= {SINGLE_TARGET}x: {'met' if ratio >= SINGLE_TARGET else 'NOT met'}) | "
            f"{p99:.2f}x (target <= {P99_TARGET}x: {'met' if p99 <= P99_TARGET else 'NOT met'}) |",
            "",
            f"Bare Flask plus one Redis Lua call a request (bench/bare_app.py `create_lua_app`, the ceiling of "
            f"any intake that records each sale in Redis before answering): {r['lua_rps']:.0f} req/s "
            f"({r['lua_rps'] / r['bare_rps']:.2f}x bare), {r['lua_cpu_us']:.0f} us CPU/request; salesync "
            f"{r['real_rps'] / r['lua_rps']:.2f}x of it.",
            "",
            f"gunicorn workers' CPU per request (user + system, median): salesync {r['real_cpu_us']:.0f} us, "
            f"bare {r['bare_cpu_us']:.0f} us; bare / salesync {r['bare_cpu_us'] / r['real_cpu_us']:.2f}x "
            "(less sensitive to other load on the machine than req/s; the profiled round included).",
            "",
            f"Every salesync request answered 202 (wrk non-2xx 0, no socket errors) and the stream grew by the "
            f"number of requests: {'yes' if r['checks_ok'] else 'NO, see the log'}.",
            "",
        ]
    if "batch" in results:
        r = results["batch"]
        single = results.get("intake", {}).get("real_rps")
        sales_s = r["real_rps"] * 100
        line = (
            f"{sales_s / single:.1f}x the single-sale req/s of step 1 ({single:.0f}) (target: at least "
            f"{BATCH_SALES_TARGET:,} sales/s and at least {BATCH_TARGET}x single, whichever is harder: "
            f"{'met' if sales_s >= max(BATCH_SALES_TARGET, BATCH_TARGET * single) else 'NOT met'})"
            if single
            else "step 1 not run: no ratio"
        )
        out += [
            "### 2. Batch intake (POST /api/sales/batch/, 100 sales a request)",
            "",
            f"salesync: {r['real_rps']:.1f} req/s = **{sales_s:.0f} accepted sales/s**, p99 {r['real_p99_ms']:.0f} ms; "
            f"{line}. Bare Flask on the same 100-sale bodies: {r['bare_rps'] * 100:.0f} sales/s "
            f"(salesync {r['real_rps'] / r['bare_rps']:.2f}x of it). Workers' CPU per sale: salesync "
            f"{r['real_cpu_us'] / 100:.0f} us. Stream grew by 100 x requests and no "
            f"non-2xx: {'yes' if r['checks_ok'] else 'NO'}.",
            "",
        ]
    for batch, label in ((1, "single-sale"), (100, "batch")):
        if ctx.get(f"intake_profile_{batch}"):
            out += [
                f"Profile of one gunicorn worker during the first salesync {label} round (py-spy, idle "
                "included; inclusive share of samples):",
                "",
                "| share | frame |",
                "|---|---|",
            ]
            out += [f"| {share:.0%} | `{name}` |" for name, share in ctx[f"intake_profile_{batch}"]]
            out.append("")
    if "apply" in results:
        a = results["apply"]
        tps = a["pgbench"]["tps"]
        out += [
            "### 3. Apply throughput",
            "",
            f"{a['runs'][0]['sales']:,} sales (2 lines each; a fifth of the lines on 5 hot tracked products, the "
            f"rest over 495 products) recorded straight into the stream with Intake.record_many in chunks of "
            f"1,000, then one Celery worker with --concurrency 2 plus beat (drain every 0.5 s). Timed from "
            f"the worker's start until the backlog was 0 and every sale was in `sales`. Baseline: "
            f"`pgbench -i` (scale 1) in a scratch database, then `pgbench -c4 -j2 -T30`: **{tps:.0f} tps**.",
            "",
            "| SALESYNC_APPLY_BATCH | wall from worker start | sales/s (wall) | sales/s first-to-last commit "
            "| ratio to pgbench tps (wall) | target >= 1.5x | peak RSS pool child | pool CPU |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for run in a["runs"]:
            ratio = run["rate_wall"] / tps
            out.append(
                f"| {run['apply_batch']} | {run['wall_seconds']:.1f} s | {run['rate_wall']:.0f} | "
                f"{run['rate_window']:.0f} | {ratio:.2f}x | {'met' if ratio >= 1.5 else 'NOT met'} | "
                f"{run['worker_hwm_kb'] / 1024:.0f} MB | {run['worker_cpu_s']:.0f} s |"
            )
        run = a["runs"][0]
        out += [
            "",
            f"All {run['applied']:,} applied, {run['rejected']} rejected, {run['items']:,} sale_items. "
            f"Recording them took {run['record_seconds']:.1f} s; Redis used_memory grew by "
            f"**{run['redis_bytes_per_sale']:.0f} bytes per queued sale** (intake record + stream entry).",
            "",
        ]
        if a.get("profile"):
            out += [
                "Profile (py-spy, 10 s, one pool child, idle included; inclusive share of samples):",
                "",
                "| share | frame |",
                "|---|---|",
            ]
            out += [f"| {share:.0%} | `{name}` |" for name, share in a["profile"]]
            out.append("")
    if "burst" in results:
        b = results["burst"]
        out += [
            "### 4. Burst",
            "",
            f"`salesync simulate {b['argv']}` against web + worker (--concurrency 2) + beat; "
            f"peak RSS of a worker pool child {b['worker_hwm_kb'] / 1024:.0f} MB; {b['wall_seconds']:.0f} s "
            "for the whole simulate run.",
            "",
            "```",
            b["output"].strip(),
            "```",
            "",
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["intake", "batch", "apply", "burst"], action="append")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating wrk rounds per app")
    parser.add_argument("--sales", type=int, default=100_000, help="sales recorded for the apply step")
    parser.add_argument("--apply-batches", default="100,500", help="SALESYNC_APPLY_BATCH values to try")
    parser.add_argument("--apply-timeout", type=float, default=900)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--burst-sales", type=int, default=100)
    parser.add_argument("--burst-timeout", type=float, default=900)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--full-stack", action="store_true", help="run a Celery worker and beat during the intake steps"
    )
    parser.add_argument("--no-write", action="store_true", help="print the section instead of appending it")
    args = parser.parse_args(argv)
    steps = args.only or ["intake", "batch", "apply", "burst"]
    if shutil.which("wrk") is None and {"intake", "batch"} & set(steps):
        raise SystemExit("wrk is needed for the intake steps (apt-get install -y wrk)")
    server_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    prefix = f"salesync-bench-{uuid.uuid4().hex[:8]}:"
    results: dict = {}
    with (
        tempfile.TemporaryDirectory(prefix="salesync-bench-") as scratch,
        postgres_database(server_url, Path(scratch)) as database_url,
    ):
        logs = Path(scratch)
        procs = Processes(logs)
        client = redis.Redis.from_url(redis_url)
        engine = make_engine(database_url)
        try:
            log(f"database ready; migrating; Redis prefix {prefix}")
            migrate(database_url)
            sessions = make_sessions(engine)
            ctx = {
                "settings": Settings(
                    database_url=database_url, redis_url=redis_url, data_dir=logs, redis_prefix=prefix
                ),
                "procs": procs,
                "redis": client,
                "engine": engine,
                "sessions": sessions,
                "prefix": prefix,
                "server_url": server_url,
                "logs": logs,
                "duration": args.duration,
                "sales": args.sales,
                "apply_timeout": args.apply_timeout,
                "profile_intake": not args.no_profile,
                "full_stack": args.full_stack,
                "burst_timeout": args.burst_timeout,
            }
            ctx["products"] = make_products(sessions)
            ctx["till"] = make_token(sessions, "bench-till")
            ctx["admin"] = make_token(sessions, "bench-admin", admin=True)
            if "intake" in steps:
                log("step 1: single-sale intake, salesync vs bare Flask")
                results["intake"] = intake_phase(ctx, 1, args.rounds)
            if "batch" in steps:
                log("step 2: batch intake, 100 sales a request")
                results["batch"] = intake_phase(ctx, 100, args.rounds)
            if "apply" in steps:
                log("step 3: apply throughput; baseline pgbench first")
                bench = pgbench(ctx)
                runs = [
                    apply_phase(ctx, int(b), profile=(i == 0 and not args.no_profile))
                    for i, b in enumerate(args.apply_batches.split(","))
                ]
                results["apply"] = {"pgbench": bench, "runs": runs}
                raw = ctx.get("profile_raw")
                if raw and raw.exists():
                    results["apply"]["profile"] = summarize_profile(raw)
                    shutil.copy(raw, BENCH / "profile-apply.txt")
                    for name, share in results["apply"]["profile"]:
                        log(f"  profile {share:6.1%} {name}")
            if "burst" in steps:
                log("step 4: the burst through salesync simulate")
                results["burst"] = burst_phase(ctx, args.devices, args.burst_sales)
        finally:
            procs.stop_all()
            engine.dispose()
            delete_prefix(redis_url, prefix)
            client.close()
    (BENCH / "throughput-results.json").write_text(json.dumps(results, indent=1, default=str))
    command = "python -m bench.throughput" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    section = report(ctx, results, command.strip())
    print(section)
    if not args.no_write:
        with open(BENCH / "RESULTS.md", "a") as results_md:
            results_md.write(section + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
