"""`salesync`: run the service and administer it."""

from __future__ import annotations

import argparse
import os
import re
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from importlib import metadata

from cli import admin, simulate
from cli.services import connect, publish_tokens, resolve
from cli.supervise import supervise
from config.settings import Settings
from domain.sale import canonical_uuid
from postgres import catalog, tokens
from postgres.engine import make_engine, make_sessions, migrate
from recovery import replay


def serve(args, settings: Settings) -> int:
    flower_env = flower_auth(no_auth=False) if args.flower else {}
    if flower_env is None:
        return 2
    with ExitStack() as stack:
        settings = resolve(settings, stack, start_redis=True)
        migrate(settings.postgres)
        publish_tokens(settings)
        env = {**os.environ, "DATABASE_URL": settings.postgres, "REDIS_URL": settings.redis, **flower_env}
        python = sys.executable
        commands = {
            # web/gunicorn_conf.py: metrics shared by the gunicorn workers, logs in SALESYNC_LOG_FORMAT.
            "web": [
                python,
                "-m",
                "gunicorn",
                "--config",
                "python:web.gunicorn_conf",
                "--bind",
                f"{args.host}:{args.port}",
                "--workers",
                str(args.web_workers),
                "--access-logfile",
                "-",
                "--no-control-socket",
                "web.app:create_app()",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "worker.celery_app",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(args.worker_concurrency),
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "worker.celery_app",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(settings.data_dir / "beat-schedule"),
            ],
        }
        if args.flower:
            commands["flower"] = flower_command(args.host, args.flower_port)
        print(f"salesync serving on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
        return supervise(commands, env)


def flower_auth(no_auth: bool) -> dict[str, str] | None:
    """Flower's login (user:password) from SALESYNC_FLOWER_AUTH or FLOWER_BASIC_AUTH, as the
    environment Flower reads it from (never its command line); None, after saying why, if it
    must not start."""
    auth = Settings.from_env().flower_auth  # its form was checked at start (config/settings.py)
    if auth:
        return {"FLOWER_BASIC_AUTH": auth}
    if no_auth:
        return {}
    print(
        "salesync: Flower shows every task and can control workers; set SALESYNC_FLOWER_AUTH=user:password "
        "(or FLOWER_BASIC_AUTH), or pass --no-auth for a Flower only you can reach",
        file=sys.stderr,
    )
    return None


def flower_command(address: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "flower",
        f"--address={address}",
        f"--port={port}",
    ]


def flower(args, settings: Settings) -> int:
    flower_env = flower_auth(args.no_auth)
    if flower_env is None:
        return 2
    with ExitStack() as stack:
        redis_url = resolve(settings, stack, start_redis=False, database=False).redis_url
        if not redis_url:
            print("salesync: no Redis to watch: set REDIS_URL, or start `salesync serve` first", file=sys.stderr)
            return 1
        env = {**os.environ, "REDIS_URL": redis_url, **flower_env}
        print(f"Flower on http://{args.address}:{args.port}/ (Ctrl-C stops)", flush=True)
        return supervise({"flower": flower_command(args.address, args.port)}, env)


def token(args, settings: Settings) -> int:
    with ExitStack() as stack:
        settings = resolve(settings, stack, start_redis=False)
        migrate(settings.postgres)
        engine = make_engine(settings.postgres)
        stack.callback(engine.dispose)
        with make_sessions(engine).begin() as session:
            if args.action == "create":
                try:
                    print(tokens.create(session, args.device, args.admin, keep_old=args.keep_old, store=args.store))
                except catalog.UnknownStore as error:
                    print(f"salesync: {error}", file=sys.stderr)
                    return 2
                except tokens.ActiveToken as error:
                    print(
                        f"salesync: {error} (or pass --keep-old to keep it active too, while the tills change over)",
                        file=sys.stderr,
                    )
                    return 1
                except tokens.TokenError as error:
                    print(f"salesync: {error}", file=sys.stderr)
                    return 1
            elif args.action == "revoke" and args.id is not None:
                if not tokens.revoke_id(session, args.id, datetime.now(UTC)):
                    print(f"salesync: no active token with id {args.id}", file=sys.stderr)
                    return 1
            elif args.action == "revoke":
                if not tokens.revoke(session, args.device, datetime.now(UTC)):
                    print(f"salesync: no active token for device {args.device!r}", file=sys.stderr)
                    return 1
            else:
                listed = [
                    (
                        row.id,
                        row.device,
                        "admin" if row.is_admin else "device",
                        "revoked" if row.revoked_at else "active",
                        row.created_at,
                        row.store,
                    )
                    for row in tokens.all_tokens(session)
                ]
                if args.json:
                    admin.print_json(
                        [
                            {
                                "id": id_,
                                "device": device,
                                "role": role,
                                "state": state,
                                "created_at": created.isoformat(),
                                "store": store,
                            }
                            for id_, device, role, state, created, store in listed
                        ]
                    )
                else:
                    for id_, device, role, state, created, store in listed:
                        print(f"{id_}\t{device}\t{role}\t{state}\t{created:%Y-%m-%d %H:%M}\t{store}")
        publish_tokens(settings)
    return 0


def store_command(args, settings: Settings) -> int:
    """`store create CODE --name NAME` (exit 1 if the code is taken, 2 if it is not a code) and `store list`."""
    if args.action == "create" and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", args.code):
        print(f"salesync: {args.code!r} is not a store code: 1-32 of A-Z a-z 0-9 - _", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        sessions, _ = connect(settings, stack, with_redis=False, upgrade=args.action == "create")
        with sessions.begin() as session:
            if args.action == "create":
                try:
                    catalog.create_store(session, args.code, args.name)
                except catalog.StoreTaken as error:
                    print(f"salesync: {error}", file=sys.stderr)
                    return 1
                print(args.code)
            elif args.json:
                admin.print_json([{"code": s.code, "name": s.name} for s in catalog.list_stores(session)])
            else:
                for store in catalog.list_stores(session):
                    print(f"{store.code}\t{store.name}")
    return 0


def rejected_command(args, settings: Settings) -> int:
    with ExitStack() as stack:
        sessions, _ = connect(settings, stack, with_redis=False)
        with sessions() as session:
            rows = replay.rejected(session, args.set_aside)
            if args.json:
                admin.print_json(
                    [
                        {
                            "external_id": row.external_id,
                            "device": row.device,
                            "received_at": row.received_at.isoformat(),
                            "reason": row.reason,
                        }
                        for row in rows
                    ]
                )
            else:
                for row in rows:
                    print(f"{row.external_id}\t{row.device}\t{row.received_at.isoformat()}\t{row.reason}")
    return 0


def replay_command(args, settings: Settings) -> int:
    """Requeue rejected sales (after a fix); exit 1 if any named sale was not rejected."""
    wanted = list(dict.fromkeys(canonical_uuid(text) or text for text in args.external_ids))
    bad = [text for text in wanted if canonical_uuid(text) is None]
    if bad or not (wanted or args.all_set_aside):
        print(
            f"salesync: not an external_id: {bad[0]}" if bad else "salesync: name sales, or --all-set-aside",
            file=sys.stderr,
        )
        return 2
    with ExitStack() as stack:
        sessions, intake = connect(settings, stack, with_redis=True)
        assert intake is not None  # with_redis
        with sessions.begin() as session:
            if args.all_set_aside:
                wanted += [row.external_id for row in replay.rejected(session, set_aside_only=True)]
            done = replay.replay(session, intake, wanted)
    for external_id in done:
        print(f"replayed {external_id}")
    missing = [external_id for external_id in wanted if external_id not in done]
    for external_id in missing:
        print(f"salesync: {external_id} is not rejected; nothing to replay", file=sys.stderr)
    return 1 if missing else 0


def migrate_command(args, settings: Settings) -> int:
    with ExitStack() as stack:
        migrate(resolve(settings, stack, start_redis=False).postgres)
    return 0


def version() -> str:
    """The installed package's version (its metadata), as `salesync --version` prints it."""
    try:
        return metadata.version("salesync")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="salesync", description=__doc__)
    root.add_argument("--version", action="version", version=f"salesync {version()}")
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="migrate, then run web, worker and beat in the foreground")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--web-workers", type=int, default=2)
    run.add_argument("--worker-concurrency", type=int, default=2)
    run.add_argument("--flower", action="store_true", help="also run Flower (login from SALESYNC_FLOWER_AUTH)")
    run.add_argument("--flower-port", type=int, default=5555)
    run.set_defaults(handler=serve)
    watch = commands.add_parser(
        "flower",
        help="run Flower, the Celery monitor, with a login from "
        "SALESYNC_FLOWER_AUTH or FLOWER_BASIC_AUTH (user:password)",
    )
    watch.add_argument("--address", default="127.0.0.1")
    watch.add_argument("--port", type=int, default=5555)
    watch.add_argument("--no-auth", action="store_true", help="allow running without a login (local use only)")
    watch.set_defaults(handler=flower)
    token_parser = commands.add_parser("token", help="create, list or revoke API tokens")
    actions = token_parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="print a new token alone on stdout")
    create.add_argument("--device", required=True)
    create.add_argument("--admin", action="store_true")
    create.add_argument("--store", default="main", help="the device's store, whose stock its sales take (default main)")
    create.add_argument(
        "--keep-old",
        action="store_true",
        help="keep the device's active token active too (rotation: revoke it by id later)",
    )
    list_tokens = actions.add_parser(
        "list", help="every token ever issued, without the secret: id, device, role, state, created, store"
    )
    list_tokens.add_argument("--json", action="store_true", help="a JSON list of objects on stdout, for scripts")
    revoke = actions.add_parser("revoke", help="revoke a device's active tokens, or one token by id")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--device", help="revoke every active token of this device")
    which.add_argument("--id", type=int, help="revoke this one token (its id in `token list`)")
    token_parser.set_defaults(handler=token)
    store_parser = commands.add_parser("store", help="create or list stores (locations with their own stock)")
    store_actions = store_parser.add_subparsers(dest="action", required=True)
    new_store = store_actions.add_parser("create", help="create a store; prints its code")
    new_store.add_argument("code", help="1-32 of A-Z a-z 0-9 - _, unique")
    new_store.add_argument("--name", required=True)
    list_stores = store_actions.add_parser("list", help="every store: code, name")
    list_stores.add_argument("--json", action="store_true", help="a JSON list of objects on stdout, for scripts")
    store_parser.set_defaults(handler=store_command)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=migrate_command)
    admin.add_commands(commands)
    listing = commands.add_parser("rejected", help="list rejected sales: external_id, device, received_at, reason")
    listing.add_argument("--set-aside", action="store_true", help="only sales set aside after repeated failures")
    listing.add_argument("--json", action="store_true", help="a JSON list of objects on stdout, for scripts")
    listing.set_defaults(handler=rejected_command)
    again = commands.add_parser(
        "replay",
        help="requeue rejected sales once what made them fail is fixed",
        description="Deletes each sale's rejected_sales row and queues the stored sale "
        "again, with its failed attempts reset; a worker applies it within seconds.",
    )
    again.add_argument("external_ids", nargs="*", metavar="EXTERNAL_ID")
    again.add_argument("--all-set-aside", action="store_true", help="every sale set aside after repeated failures")
    again.set_defaults(handler=replay_command)
    fleet = commands.add_parser(
        "simulate", help="drive a fleet of simulated tills over HTTP, then verify", description=simulate.__doc__
    )
    simulate.add_options(fleet)
    fleet.set_defaults(handler=simulate.command)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as error:  # config.settings.SettingsError: names the variable and what it may be
        print(f"salesync: {error}", file=sys.stderr)  # a line, not a traceback
        return 2
    return args.handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
