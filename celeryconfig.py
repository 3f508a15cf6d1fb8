"""Celery settings for salesync, from the environment (see config/settings.py)."""

from config.settings import Settings

_settings = Settings.from_env()

broker_url = _settings.redis_url or "redis://127.0.0.1:6379/0"
# One prefix for every key Celery and salesync write, so several deployments (or test runs)
# can share one Redis without seeing each other.
broker_transport_options = _settings.celery_transport_options
broker_connection_retry_on_startup = True
task_ignore_result = True
# Tasks are triggers: the sales themselves live in the Redis stream until applied, so a lost
# or doubled trigger costs nothing. Late acks make a killed worker's trigger run again.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_send_task_events = True
task_send_sent_event = True
timezone = "UTC"
beat_schedule = {
    # A trigger that waits longer than two intervals is stale: the next one does the same work.
    "drain-sales": {
        "task": "salesync.drain",
        "schedule": _settings.drain_interval,
        "kwargs": {"trigger": "beat"},
        "options": {"expires": _settings.trigger_expires},
    },
    "publish-tokens": {"task": "salesync.publish_tokens", "schedule": 60.0},
    "prune-consumers": {"task": "salesync.prune_consumers", "schedule": 600.0, "options": {"expires": 600.0}},
    "refresh-rollup": {"task": "salesync.refresh_rollup", "schedule": _settings.rollup_interval},
    # The dashboard's sync lag and queue depth history (redis_queue/samples.py); a late sample is worthless.
    "sample-ops": {"task": "salesync.sample_ops", "schedule": 15.0, "options": {"expires": 15.0}},
}
