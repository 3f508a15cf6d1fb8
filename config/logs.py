"""Log lines for people and for grep: one JSON object per event (SALESYNC_LOG_FORMAT=json, the
default) or classic text (SALESYNC_LOG_FORMAT=text).

Fields passed with `extra=` (external_id, device, outcome, batch, trigger, ...) become keys of
the JSON object, and a line logged while a Celery task runs carries its task id, so one sale
can be followed from intake to apply with `grep <external_id>`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from celery import current_task

from config.settings import Settings

TEXT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
# What json.dumps(entry, default=str) builds for every line, built once: the same text.
_ENCODER = json.JSONEncoder(default=str)


def log_format() -> str:
    return Settings.from_env().log_format


class JsonFormatter(logging.Formatter):
    """One JSON object a line. With `tasks` (the Celery worker), a line logged while a task runs
    names it; the web process runs no task and skips the look-up (~10 us a line)."""

    def __init__(self, tasks: bool = False):
        super().__init__()
        self.tasks = tasks

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        entry |= {key: value for key, value in vars(record).items() if key not in _STANDARD}
        task = _current_task() if self.tasks else None
        if task is not None and task.request.id:
            entry.setdefault("task_id", task.request.id)
            entry.setdefault("task", task.name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


def formatter() -> logging.Formatter:
    return JsonFormatter() if log_format() == "json" else logging.Formatter(TEXT)


def use_on(logger: logging.Logger) -> None:
    """Give every handler of a logger set up by someone else (Celery) our format, if JSON."""
    if log_format() == "json":
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter(tasks=True))


def dict_config() -> dict:
    """logging.config.dictConfig for gunicorn: its own loggers and ours, one format, to stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"salesync": {"()": formatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "salesync", "stream": "ext://sys.stderr"}
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }


def _current_task():
    return current_task if current_task else None  # a proxy: falsy outside a task
