"""`salesync serve`'s supervisor, with real child processes."""

from __future__ import annotations

import os
import signal
import threading

from cli import supervise


def test_a_process_that_fails_at_start_up_stops_everything_with_exit_1(capfd):
    assert supervise.supervise({"web": ["sh", "-c", "exit 3"], "worker": ["sleep", "30"]}, dict(os.environ)) == 1
    assert "web failed to start (exit code 3)" in capfd.readouterr().err


def test_a_process_that_exits_later_is_started_again_until_sigterm(monkeypatch, tmp_path, capfd):
    monkeypatch.setattr(supervise, "STARTUP_SECONDS", 0.2)
    runs = tmp_path / "runs"
    stop = threading.Timer(4, os.kill, (os.getpid(), signal.SIGTERM))
    stop.start()
    try:
        code = supervise.supervise(
            {"worker": ["sh", "-c", f"echo run >> {runs}; sleep 0.5; exit 3"], "web": ["sleep", "30"]}, dict(os.environ)
        )
    finally:
        stop.cancel()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert code == 0
    assert len(runs.read_text().split()) >= 2  # exited, and was started again
    assert "worker exited (exit code 3); starting it again in 1 s" in capfd.readouterr().err


def test_a_process_killed_at_start_up_is_started_again_and_so_is_a_relaunch_that_fails(tmp_path, capfd):
    """A signal is not a failure to start (the process was running), and a relaunch that fails is
    a crash loop to back off from, not a reason to stop the processes that work."""
    runs = tmp_path / "runs"
    first_killed_then_exit_3 = f"echo run >> {runs}; [ $(wc -l < {runs}) -eq 1 ] && kill -KILL $$; exit 3"
    stop = threading.Timer(4, os.kill, (os.getpid(), signal.SIGTERM))
    stop.start()
    try:
        code = supervise.supervise(
            {"worker": ["sh", "-c", first_killed_then_exit_3], "web": ["sleep", "30"]}, dict(os.environ)
        )
    finally:
        stop.cancel()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert code == 0
    assert len(runs.read_text().split()) >= 2
    err = capfd.readouterr().err
    assert "worker exited (killed by SIGKILL); starting it again in 1 s" in err
    assert "worker exited (exit code 3); starting it again in 2 s" in err
    assert "failed to start" not in err
