"""`salesync serve`'s supervisor: run the service's processes, restart what exits, stop on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

STARTUP_SECONDS = 10  # a process whose first run exits with an error this soon failed to start


def supervise(commands: dict[str, list[str]], env: dict[str, str]) -> int:
    """Run every command until Ctrl-C or SIGTERM; a child that exits is started again (after 1 s,
    doubling to 30 s while it keeps failing), as docker compose's `restart: unless-stopped` does.
    Only a first run that exits with an error code right at start-up (a port in use, a bad
    setting) stops everything, with exit 1: starting it again would fail the same way. A child
    killed by a signal (SIGKILL, the OOM killer) did start, so it is started again however soon."""
    began = time.monotonic()
    children = {name: subprocess.Popen(command, env=env) for name, command in commands.items()}
    started = dict.fromkeys(children, began)
    delays = dict.fromkeys(children, 1.0)  # the wait before the next restart
    relaunched: set[str] = set()
    due: dict[str, float] = {}
    stopping: list[bool] = []
    failed: list[str] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        while not stopping and not failed:
            now = time.monotonic()
            for name, child in children.items():
                if name in due or child.poll() is None:
                    continue
                if name not in relaunched and child.returncode > 0 and now - began < STARTUP_SECONDS:
                    print(
                        f"salesync: {name} failed to start (exit code {child.returncode}); stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                    failed.append(name)
                    break
                if now - started[name] > 60:
                    delays[name] = 1.0  # it ran for a while: not a crash loop
                due[name] = now + delays[name]
                print(
                    f"salesync: {name} exited ({ending(child.returncode)}); starting it again in {delays[name]:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                delays[name] = min(30.0, delays[name] * 2)
            for name in [name for name, at in due.items() if at <= now]:
                del due[name]
                children[name], started[name] = subprocess.Popen(commands[name], env=env), now
                relaunched.add(name)
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
    return 1 if failed else 0


def ending(returncode: int) -> str:
    """How a child ended, as an operator reads it: Popen gives a signal as a negative code."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"
