"""What Redis knows of each device: when it was last seen, and its sales still queued.

`<prefix>devices:last-seen` is one hash, device -> Unix seconds of its last authenticated request.
`<prefix>queued:<device>` is a sorted set of the device's sales recorded and not yet settled
(external_id scored by when it was received), written by record_sale.lua and emptied by
Intake.settle, so a device's backlog is read without scanning the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis


def last_seen_key(prefix: str) -> str:
    return f"{prefix}devices:last-seen"


def queued_key(prefix: str, device: str) -> str:
    return f"{prefix}queued:{device}"


@dataclass(frozen=True)
class Queued:
    count: int
    oldest: float | None  # Unix seconds the oldest queued sale was received
    newest: float | None


def mark_seen(client: redis.Redis, prefix: str, device: str, at: float) -> None:
    client.hset(last_seen_key(prefix), device, f"{at:.3f}")


def last_seen(client: redis.Redis, prefix: str) -> dict[str, float]:
    """Every device's last authenticated request (Unix seconds); devices never seen are left out."""
    return {device.decode(): float(at) for device, at in client.hgetall(last_seen_key(prefix)).items()}


def queued(client: redis.Redis, prefix: str, devices: list[str]) -> dict[str, Queued]:
    """Each device's queued sales, in one round trip."""
    pipe = client.pipeline(transaction=False)
    for device in devices:
        key = queued_key(prefix, device)
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.zrange(key, -1, -1, withscores=True)
    replies = pipe.execute()
    found = {}
    for index, device in enumerate(devices):
        count, oldest, newest = replies[3 * index : 3 * index + 3]
        found[device] = Queued(count, oldest[0][1] if oldest else None, newest[0][1] if newest else None)
    return found
