"""The Redis side of a sale's life: the intake record (source of truth until applied) and the apply stream.

A sale is recorded and appended to a stream in one Lua call. Workers read the stream through a
consumer group and acknowledge an entry only after its PostgreSQL transaction committed, so a
crash anywhere leaves the entry pending, to be read again by its consumer or claimed by another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis

from domain.sale import WAITING, Failures, Sale
from redis_queue.devices import queued_key

GROUP = "appliers"
KICK_EVERY_MS = 100  # at most ten drain kicks a second from intake, however busy
# Sales recorded by one run of record_sale.lua: a batch's are recorded in runs this long, so Redis,
# which runs one script at a time, is never held for long by one batch (~1-2 ms for 100 here).
RECORD_CHUNK = 100
TOKEN_BUCKET = Path(__file__).with_name("token_bucket.lua").read_text()  # defines the Lua take()
# Drop the group's consumers that hold no pending entry and were idle longer than ARGV[2] ms, in
# one atomic step (a consumer's pending entries would go with it: none may slip in between).
PRUNE_CONSUMERS = """
local deleted = {}
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local fields = {}
  for i = 1, #consumer, 2 do fields[consumer[i]] = consumer[i + 1] end
  if fields['pending'] == 0 and fields['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], fields['name'])
    table.insert(deleted, fields['name'])
  end
end
return deleted
"""


@dataclass(frozen=True)
class RateBucket:
    """A caller's rate-limit bucket (token_bucket.lua): `rate` requests a second, `burst` at once."""

    key: str
    rate: float
    burst: int


@dataclass(frozen=True)
class Recorded:
    outcome: str  # "new", "repeat", "conflict"; "limited" or "full" (nothing recorded)
    kick: bool = False  # a drain should be triggered now
    record: dict | None = None  # the stored record, for a repeat
    wait_ms: int = 0  # for "limited": until the caller's buckets have tokens again
    full: str = ""  # for "full": what is at its bound, "queue" or "memory"


@dataclass(frozen=True)
class Entry:
    entry_id: str
    external_id: str
    sale: dict  # Sale.to_dict(); parsed by the caller so one bad entry cannot stop a batch


class Intake:
    def __init__(
        self, client: redis.Redis, prefix: str, record_ttl: int, max_queued: int = 1_000_000, high_water: float = 0.8
    ):
        self.redis = client
        self.prefix = prefix
        self.stream = f"{prefix}sales"
        self.kick_key = f"{prefix}drain-kick"
        self.record_ttl = record_ttl
        self.max_queued = max_queued  # sales the stream may hold before intake pushes back
        self.high_water = high_water  # share of Redis's maxmemory above which intake pushes back
        self._record = client.register_script(TOKEN_BUCKET + Path(__file__).with_name("record_sale.lua").read_text())
        self._prune = client.register_script(PRUNE_CONSUMERS)

    def record_key(self, external_id: str) -> str:
        return f"{self.prefix}sale:{external_id}"

    @classmethod
    def from_settings(cls, client: redis.Redis, settings) -> Intake:
        return cls(client, settings.redis_prefix, settings.record_ttl, settings.max_queued, settings.redis_high_water)

    def record(self, sale: Sale, fingerprint: str, buckets: tuple[RateBucket, ...] = ()) -> Recorded:
        """Record one sale; with `buckets` (the caller's request bucket, then its sales bucket),
        take one from each first, in the same round trip, and record nothing if one is empty
        ("limited")."""
        keys, args = self._record_call([(sale, fingerprint)])
        for bucket in buckets[:2]:
            keys.append(bucket.key)
            args += [bucket.rate, bucket.burst]
        return _recorded(self._record(keys, args))[0]

    def record_many(self, sales: list[tuple[Sale, str]]) -> list[Recorded]:
        """Record each sale atomically, in order, so a repeat within the list is recognised as one:
        RECORD_CHUNK sales a script run, every run in one pipeline (one round trip)."""
        if len(sales) <= RECORD_CHUNK:  # a pipeline costs an extra SCRIPT EXISTS round trip
            return _recorded(self._record(*self._record_call(sales)))
        pipe = self.redis.pipeline(transaction=False)
        for start in range(0, len(sales), RECORD_CHUNK):
            self._record(*self._record_call(sales[start : start + RECORD_CHUNK]), client=pipe)
        return [each for reply in pipe.execute() for each in _recorded(reply)]

    def _record_call(self, sales: list[tuple[Sale, str]]) -> tuple[list, list]:
        """record_sale.lua's keys and arguments for these sales."""
        keys: list = [self.stream, self.kick_key]
        args: list = [len(sales), KICK_EVERY_MS, self.max_queued, self.high_water]
        for sale, fingerprint in sales:
            keys += [self.record_key(sale.external_id), queued_key(self.prefix, sale.device)]
            args += [
                fingerprint,
                sale.device,
                sale.received_at.isoformat(),
                sale.external_id,
                entry_json({**sale.to_dict(), "fingerprint": fingerprint}),
                sale.received_at.timestamp(),
            ]
        return keys, args

    def status(self, external_id: str) -> dict | None:
        return self.statuses([external_id]).get(external_id)

    def statuses(self, external_ids: list[str]) -> dict[str, dict]:
        """The records of many sales in one round trip, by external_id; ids without a record are left out."""
        pipe = self.redis.pipeline(transaction=False)
        for external_id in external_ids:
            pipe.hgetall(self.record_key(external_id))
        return {
            external_id: {key.decode(): value.decode() for key, value in raw.items()}
            for external_id, raw in zip(external_ids, pipe.execute())
            if raw
        }

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def claim(self, consumer: str, count: int, reclaim_after_ms: int) -> list[Entry]:
        """Up to `count` entries: this consumer's own unfinished ones first, then a dead
        consumer's, then new ones."""
        self.ensure_group()
        mine = self.redis.xreadgroup(GROUP, consumer, {self.stream: "0"}, count=count)
        entries = mine[0][1] if mine else []
        if len(entries) < count:
            entries += self.redis.xautoclaim(
                self.stream, GROUP, consumer, reclaim_after_ms, "0-0", count=count - len(entries)
            )[1]
        if len(entries) < count:  # fill up, so one entry that keeps failing never starves the rest
            fresh = self.redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count - len(entries))
            entries += fresh[0][1] if fresh else []
        gone = [entry_id for entry_id, fields in entries if not fields]
        if gone:  # deleted from the stream by hand while pending: nothing to apply, stop reading them
            self.redis.xack(self.stream, GROUP, *gone)
        return [_entry(entry_id, fields) for entry_id, fields in entries if fields]

    def settle(self, entries: list[Entry], outcomes: dict[str, dict]) -> None:
        """After commit: publish each sale's final status, then acknowledge and drop its entries.
        An entry without an outcome stays pending, to be read again. A return waiting for its
        original sale (status "waiting") goes to the back of the stream, still queued, so the
        sales behind it (its original among them, perhaps) are read first.

        A settled record is compact: the status, device, received_at, fingerprint (and a rejected
        sale's reason), never the applied sale itself, which PostgreSQL holds. Small fields keep
        the hash in Redis's compact encoding: a few hundred bytes for any sale, kept for
        record_ttl (docs/operations.md, sizing Redis)."""
        entry_ids = [entry.entry_id for entry in entries if entry.external_id in outcomes]
        pipe = self.redis.pipeline(transaction=True)
        for external_id, status in outcomes.items():
            if status["status"] != WAITING:
                key = self.record_key(external_id)
                pipe.delete(key)  # drops the queued record's failed-attempt counts too
                pipe.hset(key, mapping=settled_record(status))
                pipe.expire(key, self.record_ttl)
        for entry in entries:
            outcome = outcomes.get(entry.external_id, {}).get("status")
            if outcome == WAITING:  # the same sale again, at the back; its record stays queued
                pipe.xadd(self.stream, {"external_id": entry.external_id, "sale": entry_json(entry.sale)})
            elif outcome is not None:  # settled: no longer in its device's backlog
                pipe.zrem(queued_key(self.prefix, entry.sale.get("device", "")), entry.external_id)
        if entry_ids:
            pipe.xack(self.stream, GROUP, *entry_ids)
            pipe.xdel(self.stream, *entry_ids)
        pipe.execute()

    def _now(self) -> float:
        """Redis's clock, in Unix seconds: one clock for every worker host."""
        seconds, micros = self.redis.time()
        return seconds + micros / 1_000_000

    def waited(self, external_id: str) -> float:
        """Seconds since a return first waited for its original sale (0 on the first call)."""
        key, now = self.record_key(external_id), self._now()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(key, "waiting_since", now)
        pipe.hget(key, "waiting_since")
        _, since = pipe.execute()
        return max(0.0, now - float(since))

    def count_failure(self, external_id: str) -> Failures:
        """One more failed attempt to apply this sale: how many so far, and since when."""
        key, now = self.record_key(external_id), self._now()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, "attempts", 1)
        pipe.hsetnx(key, "first_failed_at", now)
        pipe.hget(key, "first_failed_at")
        attempts, _, first = pipe.execute()
        return Failures(attempts, max(0.0, now - float(first)))

    def prune_consumers(self, idle_ms: int) -> list[str]:
        """Forget consumers (worker processes, named host-pid) that hold nothing and were idle for
        `idle_ms`: every restarted worker process leaves one behind. A live one that was merely
        idle is created again by its next read."""
        self.ensure_group()
        return [name.decode() for name in self._prune(keys=[self.stream], args=[GROUP, idle_ms])]

    def backlog(self) -> int:
        """Sales recorded and not yet acknowledged by a worker."""
        return self.redis.xlen(self.stream)

    def oldest_queued_ms(self) -> int | None:
        """When the oldest sale still in the stream was recorded (Unix ms), or None if none is.
        Applied entries are deleted, so this is the start of the sync lag."""
        first = self.redis.xrange(self.stream, count=1)
        return int(first[0][0].split(b"-")[0]) if first else None


def entry_json(sale: dict) -> bytes | str:
    """A sale as the stream entry holds it: compact JSON, read back with json.loads.
    orjson writes it over ten times faster than the standard library (one entry per sale
    recorded); what orjson refuses, an integer beyond 64 bits or a lone surrogate in a text,
    the standard library writes."""
    try:
        return orjson.dumps(sale)
    except orjson.JSONEncodeError:
        return json.dumps(sale, separators=(",", ":"))


def _recorded(reply: list) -> list[Recorded]:
    """record_sale.lua's answer, a Recorded for each sale; a drain kick, if due, on the first new one."""
    if reply[0] == b"limited":
        return [Recorded("limited", wait_ms=int(reply[1]))]
    kick, answers = reply[0] == 1, []
    for answer in reply[1]:
        outcome = answer[0].decode()
        if outcome == "repeat":
            flat = [item.decode() for item in answer[1]]
            answers.append(Recorded("repeat", record=dict(zip(flat[::2], flat[1::2]))))
        elif outcome == "full":
            answers.append(Recorded("full", full=answer[1].decode()))
        else:
            answers.append(Recorded(outcome, kick=kick and outcome == "new"))
            kick = kick and outcome != "new"
    return answers


def _entry(entry_id: bytes, fields: dict) -> Entry:
    return Entry(entry_id.decode(), fields[b"external_id"].decode(), json.loads(fields[b"sale"]))


SETTLED_FIELDS = ("status", "device", "received_at", "fingerprint", "error")


def settled_record(status: dict) -> dict[str, str]:
    """What Redis keeps of a settled sale (Intake.settle)."""
    return {name: _text(status[name]) for name in SETTLED_FIELDS if status.get(name) is not None}


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
