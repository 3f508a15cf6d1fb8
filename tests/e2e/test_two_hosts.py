"""More than one machine: two web servers and two Celery worker nodes, as two hosts would run
them, plus one beat, in front of one Redis and one PostgreSQL.

Two tills post a burst, one through each web server; one worker node is SIGKILLed mid-burst
with its whole pool, as a host that dies. The other node takes over what it held once
SALESYNC_RECLAIM_AFTER (5 s here) has passed, and `tally` checks every sale applied exactly once.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor, wait

import pytest
import redis
import requests

from cli.embedded import free_port
from redis_queue.intake import GROUP
from tests.e2e.faults import Till, applied, discard, make_stack, sales, tally
from tests.polling import wait_until
from tests.processes import Stack

pytestmark = pytest.mark.e2e
SALES = 600  # half through each web server
NODES = {"worker-a": "worker-a@%h", "worker-b": "worker-b@%h"}  # role: Celery node name
KILLED = "worker-a"


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def two_hosts(engine, database_url, redis_url, run_prefix, tmp_path):
    """The stack with a second web server on its own port; yields (stack, second web server's URL)."""
    stack = make_stack(
        engine, database_url, redis_url, f"{run_prefix}two-hosts-{time.time_ns()}:", tmp_path, SALESYNC_APPLY_BATCH="50"
    )
    second = f"http://127.0.0.1:{free_port()}"
    try:
        stack.start("web")
        stack.start("web-b", kind="web", port=int(second.rsplit(":", 1)[1]))
        for role, node in NODES.items():
            stack.start(role, kind="worker", node=node)
        stack.start("beat")
        stack.wait_ready()
        assert wait_until(lambda: ready(second), timeout=60, interval=0.2), "the second web server never got ready"
        yield stack, second
    finally:
        discard(stack)


def consumers(client: redis.Redis, stack: Stack) -> dict[str, int]:
    """The stream's consumers (one per worker process, `<hostname>-<pid>`) and the entries each holds."""
    try:
        found = client.xinfo_consumers(f"{stack.settings.redis_prefix}sales", GROUP)
    except redis.ResponseError:  # no group yet: no worker has drained
        return {}
    return {consumer["name"].decode(): consumer["pending"] for consumer in found}


def node_of(consumer: str, stack: Stack) -> str | None:
    """The worker role whose process group the consumer's process is in (None: it is gone)."""
    try:
        group = os.getpgid(int(consumer.rsplit("-", 1)[1]))
    except ProcessLookupError:
        return None
    return next((role for role in NODES if role in stack.processes and stack.processes[role].pid == group), None)


def test_two_web_servers_and_two_worker_nodes_one_killed_apply_every_sale_once(two_hosts):
    stack, second = two_hosts
    tills = [Till(stack), Till(stack)]
    tills[1].url = second  # the second till talks to the second web server only
    product_id = tills[0].product()
    burst = sales(product_id, SALES)
    ids = [sale["external_id"] for sale in burst]
    client = redis.Redis.from_url(stack.settings.redis_url)
    seen: dict[str, str] = {}  # consumer name -> worker role, as observed while running
    held = 0  # entries the killed node's processes held when it was killed

    def observe() -> dict[str, int]:
        found = consumers(client, stack)
        for name in found:
            if name not in seen and (role := node_of(name, stack)):
                seen[name] = role
        return found

    try:
        with ThreadPoolExecutor(8) as pool:
            # Each till sends from 4 threads, retrying 503/429/lost connections as a till does.
            posting = [pool.submit(tills[n % 2].deliver, sale) for n, sale in enumerate(burst)]

            # Kill the node while it holds entries, so the other must take them over: freeze its
            # process group when it is seen busy, count what it holds, and SIGKILL it if anything
            # (else let it go on and look again). Bounded: after 30 s it is killed regardless.
            deadline = time.monotonic() + 30
            group = stack.processes[KILLED].pid
            while True:
                busy = any(pending for name, pending in observe().items() if seen.get(name) == KILLED)
                if busy and applied(stack, ids) >= 50:
                    os.killpg(group, signal.SIGSTOP)
                    held = sum(pending for name, pending in observe().items() if seen.get(name) == KILLED)
                    if held or time.monotonic() > deadline:
                        break
                    os.killpg(group, signal.SIGCONT)
                elif time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            stack.kill(KILLED)
            mid, answered = applied(stack, ids), len(tills[0].answers) + len(tills[1].answers)
            wait(posting, timeout=90)
            for future in posting:
                future.result()  # every sale accepted (or deliver's own assertion)

        assert mid < SALES, "the burst was over before the fault: nothing was tested"
        assert held > 0, "the killed node held no entry: no takeover was tested"
        answers = tills[0].answers + tills[1].answers
        result = tally(stack, "two hosts, one worker node SIGKILLed", burst, answers, product_id, timeout=60)
        # The dead node's entries were claimed by the live one and acknowledged: nothing left pending.
        assert wait_until(lambda: client.xpending(stack.settings.redis_prefix + "sales", GROUP)["pending"] == 0, 15)
        observe()
    finally:
        client.close()

    per_node = {role: sorted(name for name, owner in seen.items() if owner == role) for role in NODES}
    print(
        f"two hosts: web 1 answered {len(tills[0].answers)}, web 2 {len(tills[1].answers)}; "
        f"{KILLED} killed at {answered} answers and {mid} of {SALES} applied, holding {held} entries; "
        f"consumers {per_node}"
    )
    assert all(len(till.answers) >= SALES // 2 for till in tills)  # both web servers took their half
    # Both nodes drained, each process under its own consumer name on this one host.
    assert all(per_node.values()), per_node
    assert all(name.startswith(f"{socket.gethostname()}-") for name in seen)
    assert result.applied == SALES
