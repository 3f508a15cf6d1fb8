"""gunicorn settings of the web process: `gunicorn -c python:web.gunicorn_conf 'web.app:create_app()'`.

Both `salesync serve` and docker-compose's `web` service load this file, so what is set here
holds for both; their command lines only add the bind address and the number of workers.

- Workers: gevent, not sync. A sync worker serves one connection from its first byte to its
  last, so a few clients that send their request slowly (a bad link, or on purpose: "slowloris")
  hold every worker and no till is answered. A gevent worker reads each connection in a greenlet
  of its own and serves up to `worker_connections` at once; while one request waits for Redis,
  the worker serves others. A request's line and headers must arrive within `keepalive`
  seconds, or gunicorn closes the connection. See docs/operations.md, "Web workers and slow
  clients". `GUNICORN_CMD_ARGS="--worker-class sync"` brings the old model back for a comparison.
- Metrics: every gunicorn worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR
  (default `$SALESYNC_DATA_DIR/prometheus`), which GET /metrics merges. The directory's files
  are removed when gunicorn starts, so a new run does not count the previous one's workers again.
- Logs: gunicorn's own lines and salesync's in one format (SALESYNC_LOG_FORMAT, config/logs.py).
"""

import logging
import os

from config.logs import dict_config
from config.settings import Settings

# Set before anything imports prometheus_client, which reads it from the environment: workers,
# forked from this process, inherit it.
metrics_dir = Settings.from_env().prometheus_multiproc_dir.resolve()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
logconfig_dict = dict_config()
# Log records leave out what no salesync line prints: the calling frame, the thread's and the
# multiprocessing process's names (the Python logging HOWTO, "Optimization"). Every request logs
# one or two lines (gunicorn's access line, the sale's own), and each record is ~15 us cheaper.
logging._srcfile = None
logging.logThreads = False
logging.logMultiprocessing = False

# gevent: gunicorn monkey-patches each worker after the fork, so redis-py, kombu (the drain
# kick) and logging yield while they wait; psycopg2 is made to yield in post_fork below.
worker_class = "gevent"
# Connections one worker holds at once (slow ones included); past it, new ones wait in the
# listen backlog. Each busy one may hold a Redis connection; PostgreSQL stays within the
# engine's pool (web/app.py), whatever this is.
worker_connections = 1000
# Seconds an idle keep-alive connection is kept, and, on the gevent worker, the most a
# request's line and headers may take to arrive: a client that trickles them is cut off.
keepalive = 5
# The gevent worker's heartbeat: a worker whose event loop is stuck this long is restarted.
timeout = 30
# A sale takes milliseconds: stop within docker's default 10 s grace, before it sends SIGKILL.
graceful_timeout = 8


def on_starting(server):
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink(missing_ok=True)  # another server on the same directory may be clearing it too


def post_fork(server, worker):
    # psycopg2 waits for PostgreSQL in C, which would stop every greenlet of the worker: with
    # psycogreen's wait callback it waits through gevent instead (web/app.py's engine).
    if type(worker).__module__ == "gunicorn.workers.ggevent":
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
