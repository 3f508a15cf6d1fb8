"""Celery worker and beat: shells around the apply step in postgres/apply.py."""
