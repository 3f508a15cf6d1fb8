"""The real service as separate processes: gunicorn, a Celery worker and Celery beat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from cli.embedded import free_port
from config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The processes' environment: this one's, less any SALESYNC_ setting of the shell running the
    tests (a metrics token, a rate limit), plus the test's own."""
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("SALESYNC_")},
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SALESYNC_REDIS_PREFIX": settings.redis_prefix,
        "SALESYNC_DATA_DIR": str(settings.data_dir),
        "SALESYNC_DRAIN_INTERVAL": "0.5",
        "SALESYNC_RECLAIM_AFTER": "5",
        "SALESYNC_ROLLUP_INTERVAL": "1",
        **extra,
    }


def command(role: str, settings: Settings, port: int = 0, node: str | None = None) -> list[str]:
    python = sys.executable
    if role == "web":
        return [
            python,
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
            "web.app:create_app()",
        ]
    if role == "worker":
        return [
            python,
            "-m",
            "celery",
            "-A",
            "worker.celery_app",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            node or f"w{time.time_ns()}@%h",
        ]
    return [
        python,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(settings.data_dir / f"beat-{time.time_ns()}"),
    ]


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(
        self, role: str, kind: str | None = None, port: int | None = None, node: str | None = None
    ) -> subprocess.Popen:
        """Start `role`, a process of `kind` (web, worker or beat; the role by default), so a
        test can run a second one of a kind under another role name ("beat-2"); a second web
        server takes its own `port`, a worker its own Celery `node` name ("worker-b@%h")."""
        with open(self.settings.data_dir / f"{role}.log", "ab") as log:
            # Its own process group, so a fault test can kill a role with all its children at once.
            process = subprocess.Popen(
                command(kind or role, self.settings, self.port if port is None else port, node),
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes[role] = process
        return process

    def start_all(self) -> Stack:
        for role in ("web", "worker", "beat"):
            self.start(role)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"salesync did not become ready; see {self.settings.data_dir}/*.log")

    def stop(self, role: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        process = self.processes.pop(role)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self, role: str) -> None:
        """SIGKILL a role and every process it forked: a crash, not a shutdown."""
        process = self.processes.pop(role)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for role in list(self.processes):
            self.stop(role)
