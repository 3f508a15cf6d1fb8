"""Celery worker and beat: shells around the apply step in store.apply."""
