"""The Redis clients of the web and worker processes: redis-py's, with its check before reuse made
sound again and, under gevent (the web workers, web/gunicorn_conf.py), cheap.

Before lending a pooled connection again, redis-py checks that nothing is waiting on its socket (a
reply left over, or a connection the server closed). redis-py 8 speaks RESP3 by default, which
turns on "maintenance notifications" (a managed Redis announcing failovers), and with them on the
pool runs the check but lends a connection with a reply left on it anyway, so the next call would
read another's answer. salesync's Redis sends no such notices: `client()` turns them off.

The check is a zero-timeout poll. In a gevent-patched process `select.poll` is gevent's, which
turns that instant check into a round through the event loop, about 48 us of CPU on every
request (bench/RESULTS.md). A zero-timeout poll never blocks, so the operating system's own poll
answers it as well. Only that one check is answered here; what a readable socket means (stray
reply, closed connection) stays redis-py's.

gevent's poll also yielded: one turn of the event loop before every Redis call, in which the
worker's other requests move on. That turn is what keeps a saturated worker fair: without it a
few connections wait seconds while the others are served (p99 40-75 ms with it, 0.4-1.9 s without,
bench/RESULTS.md). So the check still yields, with `time.sleep(0)`: gevent's cheap switch when
the process is patched, next to nothing when it is not.
"""

from __future__ import annotations

import select
import time

import redis
from redis.connection import DefaultParser
from redis.maint_notifications import MaintNotificationsConfig

try:
    from gevent.monkey import get_original

    _poll = get_original("select", "poll")
except ImportError:  # no gevent: the standard poll is the operating system's
    _poll = select.poll


class QuickCheckParser(DefaultParser):
    """redis-py's reply parser (hiredis), whose check for waiting data asks the kernel directly."""

    def can_read(self, timeout: float = 0) -> bool:
        reader, sock = getattr(self, "_reader", None), getattr(self, "_sock", None)
        if timeout == 0 and reader is not None and sock is not None and not reader.has_data():
            time.sleep(0)  # let this worker's other requests move on first (see above)
            poller = _poll()
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):  # nothing buffered, nothing on the socket, not closed
                return False
        return super().can_read(timeout)  # anything else: redis-py's own answer


def client(url: str, **options) -> redis.Redis:
    """`redis.Redis.from_url(url, **options)`, maintenance notifications off, QuickCheckParser's check."""
    return redis.Redis.from_url(
        url,
        parser_class=QuickCheckParser,
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
        **options,
    )
