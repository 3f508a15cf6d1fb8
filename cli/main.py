"""`salesync`: run the service and administer it."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import datetime, timezone

import redis

from cli import embedded, simulate
from store import tokens
from store.db import make_engine, make_sessions, migrate
from store.settings import Settings


def resolve(settings: Settings, stack: ExitStack, start_redis: bool) -> Settings:
    """Fill in embedded servers for whatever DATABASE_URL / REDIS_URL leave unset."""
    database_url, redis_url = settings.database_url, settings.redis_url
    if not database_url:
        server = embedded.postgres(settings.data_dir / "postgres")
        stack.callback(server.cleanup)
        database_url = embedded.postgres_url(server, "salesync")
    if not redis_url:
        redis_url = embedded.running_redis_url(settings.data_dir / "redis")
        if redis_url is None and start_redis:
            server = embedded.start_redis(settings.data_dir / "redis")
            stack.callback(server.stop)
            redis_url = server.url
    return Settings(**{**settings.__dict__, "database_url": database_url, "redis_url": redis_url})


def serve(args, settings: Settings) -> int:
    with ExitStack() as stack:
        settings = resolve(settings, stack, start_redis=True)
        migrate(settings.database_url)
        publish_tokens(settings)
        env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
        python = sys.executable
        commands = {
            "web": [python, "-m", "gunicorn", "--bind", f"{args.host}:{args.port}", "--workers", str(args.web_workers),
                    "--access-logfile", "-", "--no-control-socket", "web.app:create_app()"],
            "worker": [python, "-m", "celery", "-A", "worker.celery_app", "worker", "--loglevel", "INFO",
                       "--concurrency", str(args.worker_concurrency)],
            "beat": [python, "-m", "celery", "-A", "worker.celery_app", "beat", "--loglevel", "INFO",
                     "--schedule", str(settings.data_dir / "beat-schedule")],
        }
        children = {name: subprocess.Popen(command, env=env) for name, command in commands.items()}
        print(f"salesync serving on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
        return supervise(children)


def supervise(children: dict[str, subprocess.Popen]) -> int:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        while not stopping:
            dead = [name for name, child in children.items() if child.poll() is not None]
            if dead:
                print(f"salesync: {', '.join(dead)} exited; stopping", file=sys.stderr)
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
    return 1 if not stopping and any(c.returncode not in (0, -signal.SIGTERM) for c in children.values()) else 0


def publish_tokens(settings: Settings) -> None:
    if not settings.redis_url:
        return  # no Redis running: `salesync serve` publishes tokens when it starts
    engine = make_engine(settings.database_url)
    try:
        with make_sessions(engine).begin() as session:
            tokens.publish(session, redis.Redis.from_url(settings.redis_url), settings.redis_prefix)
    finally:
        engine.dispose()


def token(args, settings: Settings) -> int:
    with ExitStack() as stack:
        settings = resolve(settings, stack, start_redis=False)
        migrate(settings.database_url)
        engine = make_engine(settings.database_url)
        stack.callback(engine.dispose)
        with make_sessions(engine).begin() as session:
            if args.action == "create":
                try:
                    print(tokens.create(session, args.device, args.admin))
                except tokens.TokenError as error:
                    print(f"salesync: {error}", file=sys.stderr)
                    return 1
            elif args.action == "revoke":
                if not tokens.revoke(session, args.device, datetime.now(timezone.utc)):
                    print(f"salesync: no active token for device {args.device!r}", file=sys.stderr)
                    return 1
            else:
                for row in tokens.active(session):
                    state = "revoked" if row.revoked_at else "active"
                    role = "admin" if row.is_admin else "device"
                    print(f"{row.device}\t{role}\t{state}\t{row.created_at:%Y-%m-%d %H:%M}")
        publish_tokens(settings)
    return 0


def migrate_command(args, settings: Settings) -> int:
    with ExitStack() as stack:
        migrate(resolve(settings, stack, start_redis=False).database_url)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="salesync", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="migrate, then run web, worker and beat in the foreground")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--web-workers", type=int, default=2)
    run.add_argument("--worker-concurrency", type=int, default=2)
    run.set_defaults(handler=serve)
    token_parser = commands.add_parser("token", help="create, list or revoke API tokens")
    actions = token_parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="print a new token alone on stdout")
    create.add_argument("--device", required=True)
    create.add_argument("--admin", action="store_true")
    actions.add_parser("list", help="every token ever issued, without the secret")
    revoke = actions.add_parser("revoke", help="revoke a device's active token")
    revoke.add_argument("--device", required=True)
    token_parser.set_defaults(handler=token)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=migrate_command)
    fleet = commands.add_parser("simulate", help="drive a fleet of simulated tills over HTTP, then verify",
                                description=simulate.__doc__)
    simulate.add_options(fleet)
    fleet.set_defaults(handler=simulate.command)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.handler(args, Settings.from_env())


if __name__ == "__main__":
    sys.exit(main())
