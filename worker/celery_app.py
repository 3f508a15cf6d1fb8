"""The Celery application (lazy: nothing connects until a worker or beat starts)."""

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from config import logs

app = Celery("salesync", include=["worker.tasks"])
app.config_from_object("celeryconfig")


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_format(logger, **_):
    """Worker and beat log in SALESYNC_LOG_FORMAT (JSON by default), like the web process."""
    logs.use_on(logger)
