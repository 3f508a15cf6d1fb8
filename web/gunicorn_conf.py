"""gunicorn settings of the web process: `gunicorn -c python:web.gunicorn_conf 'web.app:create_app()'`.

- Metrics: every gunicorn worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR
  (default `$SALESYNC_DATA_DIR/prometheus`), which GET /metrics merges. The directory's files
  are removed when gunicorn starts, so a new run does not count the previous one's workers again.
- Logs: gunicorn's own lines and salesync's in one format (SALESYNC_LOG_FORMAT, store/logs.py).
"""
import os
from pathlib import Path

from store.logs import dict_config
from store.settings import Settings

# Set before anything imports prometheus_client: workers, forked from this process, inherit it.
metrics_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                                         str((Settings.from_env().data_dir / "prometheus").resolve())))
logconfig_dict = dict_config()


def on_starting(server):
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
