"""The Celery application (lazy: nothing connects until a worker or beat starts)."""
from celery import Celery

app = Celery("salesync", include=["worker.tasks"])
app.config_from_object("celeryconfig")
