"""A poison sale: one that makes apply raise every time, for no reason the database gives.

The fault is real and confined to this test: a trigger makes the database silently skip
creating one product, so apply cannot find the product it has just created (a KeyError in our
own code, not a database error about the sale). The sale must be set aside after a bounded
number of attempts without holding up the sales queued behind it, be listed for operators by
`salesync rejected`, and, once the trigger is gone (the fix), be applied by `salesync replay`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from postgres.apply import MAX_ATTEMPTS
from tests.e2e.faults import Till, applied, discard, make_stack, sales, tally
from tests.polling import wait_until

pytestmark = pytest.mark.e2e
SALESYNC = shutil.which("salesync", path=str(Path(sys.executable).parent))


def salesync(stack, *args: str) -> subprocess.CompletedProcess:
    """The real command, as an operator runs it, with the stack's environment."""
    return subprocess.run([SALESYNC, *args], env=stack.env, capture_output=True, text=True, timeout=120)


def status(till: Till, external_id: str) -> dict:
    return till.http().get(f"{till.url}/api/sales/{external_id}/", timeout=10).json()


@pytest.fixture
def poisoned_sku(engine):
    """A sku the database refuses to create, silently (a BEFORE INSERT trigger returning NULL)."""
    sku, name = f"POISON-{uuid.uuid4().hex[:8]}", f"poison_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(
            text(f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.sku = '{sku}' THEN RETURN NULL; END IF; RETURN NEW; END $$;
            CREATE TRIGGER {name} BEFORE INSERT ON products FOR EACH ROW EXECUTE FUNCTION {name}();
        """)
        )

    def fix():
        with engine.begin() as connection:
            connection.execute(text(f"DROP TRIGGER IF EXISTS {name} ON products; DROP FUNCTION IF EXISTS {name}()"))

    yield sku, fix
    fix()


def test_a_poison_sale_is_set_aside_listed_and_replayed_after_the_fix(
    poisoned_sku, database_url, redis_url, run_prefix, tmp_path, engine
):
    sku, fix = poisoned_sku
    stack = make_stack(
        engine,
        database_url,
        redis_url,
        f"{run_prefix}poison-{time.time_ns()}:",
        tmp_path,
        SALESYNC_APPLY_BATCH="20",
        SALESYNC_DRAIN_INTERVAL="2",
        SALESYNC_SET_ASIDE_AFTER="5",
    )
    try:
        stack.start_all()
        till = Till(stack)
        product_id = till.product()
        poison = {
            "external_id": str(uuid.uuid4()),
            "items": [
                {
                    "product_data": {"sku": sku, "name": "Poison", "is_volatile": False},
                    "quantity": "1",
                    "unit_price": "1",
                }
            ],
        }
        behind = sales(product_id, 19)  # in the poison's batch: the first drain takes all 20
        till.post_batch([poison, *behind])

        # The sales behind it apply at once, while it waits for its next attempts (a beat tick each)...
        assert wait_until(lambda: applied(stack, [s["external_id"] for s in behind]) == len(behind), timeout=120)
        assert status(till, poison["external_id"])["status"] == "queued"
        # ...then it is set aside, with its reason in its status.
        assert wait_until(lambda: status(till, poison["external_id"])["status"] == "rejected", timeout=120)
        error = status(till, poison["external_id"])["error"]
        # Retried alone after its batch applied, it also waits out SALESYNC_SET_ASIDE_AFTER (5 s here).
        attempts = re.match(r"set aside after (\d+) failed attempts: KeyError", error)
        assert attempts and int(attempts[1]) >= MAX_ATTEMPTS, error

        listed = salesync(stack, "rejected", "--set-aside")
        assert listed.returncode == 0, listed.stderr
        row = next(line.split("\t") for line in listed.stdout.splitlines() if line.startswith(poison["external_id"]))
        assert row[1].startswith("till-") and row[3] == error

        fix()
        replayed = salesync(stack, "replay", poison["external_id"])
        assert (replayed.returncode, replayed.stdout.strip()) == (0, f"replayed {poison['external_id']}"), (
            replayed.stderr
        )

        assert wait_until(lambda: status(till, poison["external_id"])["status"] == "applied", timeout=60)
        assert poison["external_id"] not in salesync(stack, "rejected").stdout
        again = salesync(stack, "replay", poison["external_id"])  # applied now: nothing to replay
        assert again.returncode == 1 and "is not rejected" in again.stderr
        tally(
            stack,
            "poison sale set aside, then replayed after the fix",
            [poison, *behind],
            till.answers,
            product_id,
            rejected=0,
        )
    finally:
        discard(stack)
