"""`salesync check`'s reconcile against real Redis and PostgreSQL, with a worker settling mid-check."""

from __future__ import annotations

import redis

from recovery import reconcile
from redis_queue.intake import Intake
from tests.builders import add_product, line, sale
from tests.integration.test_admin_cli import apply, record


class SettlesBeforeStreamRead(redis.Redis):
    """A client whose first read of the stream happens just after a worker settled every sale:
    the check has read the records (queued) and is about to read the stream."""

    settle = staticmethod(lambda: None)

    def xrange(self, *args, **kwargs):
        settle, self.settle = self.settle, (lambda: None)
        settle()
        return super().xrange(*args, **kwargs)


def test_a_sale_settled_while_the_check_runs_is_not_reported_unsettled(sessions, intake, settings):
    milk = add_product(sessions, "MILK-1L", unit_price="0.99", stock="10")
    external_id = record(intake, sale(line(milk)))
    client = SettlesBeforeStreamRead.from_url(settings.redis_url)
    client.settle = lambda: apply(intake, sessions)
    try:
        with sessions() as session:
            report = reconcile.check(Intake.from_settings(client, settings), session)
    finally:
        client.close()

    assert intake.status(external_id)["status"] == "applied"  # the worker did settle it mid-check
    assert report.unapplied == [] and report.unsettled == []
    assert report.problems(older_than=0) == []


def test_a_sale_applied_whose_record_still_says_queued_is_reported(sessions, intake):
    milk = add_product(sessions, "MILK-1L", unit_price="0.99", stock="10")
    external_id = record(intake, sale(line(milk)))
    apply(intake, sessions)
    intake.redis.hset(intake.record_key(external_id), "status", "queued")  # as if its settle was lost

    with sessions() as session:
        report = reconcile.check(intake, session)
    assert report.unsettled == [external_id]
    assert len(report.problems(older_than=0)) == 1
