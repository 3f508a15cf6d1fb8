"""`salesync serve`'s supervisor, with real child processes."""
from __future__ import annotations

import os
import signal
import threading

from cli import main


def test_a_process_that_fails_at_start_up_stops_everything_with_exit_1(capfd):
    assert main.supervise({"web": ["sh", "-c", "exit 3"], "worker": ["sleep", "30"]}, dict(os.environ)) == 1
    assert "web failed to start (exit code 3)" in capfd.readouterr().err


def test_a_process_that_exits_later_is_started_again_until_sigterm(monkeypatch, tmp_path, capfd):
    monkeypatch.setattr(main, "STARTUP_SECONDS", 0.2)
    runs = tmp_path / "runs"
    stop = threading.Timer(4, os.kill, (os.getpid(), signal.SIGTERM))
    stop.start()
    try:
        code = main.supervise({"worker": ["sh", "-c", f"echo run >> {runs}; sleep 0.5; exit 3"],
                               "web": ["sleep", "30"]}, dict(os.environ))
    finally:
        stop.cancel()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert code == 0
    assert len(runs.read_text().split()) >= 2  # exited, and was started again
    assert "worker exited (3); starting it again" in capfd.readouterr().err
