"""API tokens: stored hashed in PostgreSQL, published to Redis so intake auth never touches PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from postgres.catalog import check_stores
from postgres.tables import MAIN_STORE, ApiToken


@dataclass(frozen=True)
class Caller:
    device: str
    is_admin: bool
    store: str = MAIN_STORE  # tokens published before stores existed name none: main


class TokenError(ValueError):
    pass


class ActiveToken(TokenError):
    """The device has an active token already (create with keep_old to keep both)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_key(prefix: str) -> str:
    return f"{prefix}tokens"


def create(session: Session, device: str, is_admin: bool, keep_old: bool = False, store: str = MAIN_STORE) -> str:
    """A new token for `device`, whose sales take stock from `store`. Without `keep_old` a
    device's active token must be revoked first; with it both stay active, so the device's tills
    can change over one by one without being locked out, and the old one is revoked by id once
    they all have the new one (a device belongs to one store: both tokens name the same)."""
    check_stores(session, [store])  # UnknownStore
    active = session.scalars(
        select(ApiToken.store).where(ApiToken.device == device, ApiToken.revoked_at.is_(None))
    ).all()
    if active and not keep_old:
        raise ActiveToken(f"device {device!r} already has an active token; revoke it first")
    if any(other != store for other in active):
        raise TokenError(f"device {device!r} belongs to store {active[0]!r}; revoke its tokens to move it to {store!r}")
    token = "ss_" + secrets.token_urlsafe(32)  # a prefix: never starts with "-", easy to spot in a leak
    session.add(ApiToken(device=device, is_admin=is_admin, token_hash=token_hash(token), store=store))
    session.flush()
    return token


def revoke(session: Session, device: str, now: datetime) -> bool:
    """Revoke every active token of `device`; False if it had none."""
    revoked = session.scalars(
        update(ApiToken)
        .where(ApiToken.device == device, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiToken.id)
    )
    return bool(revoked.all())


def revoke_id(session: Session, row_id: int, now: datetime) -> bool:
    """Revoke one token by its row id (as `salesync token list` shows it); False if no active
    token has that id."""
    revoked = session.scalars(
        update(ApiToken)
        .where(ApiToken.id == row_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiToken.id)
    )
    return bool(revoked.all())


def all_tokens(session: Session) -> list[ApiToken]:
    """Every token ever issued, revoked ones included, by device."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.device, ApiToken.id)))


def publish(session: Session, client: redis.Redis, prefix: str) -> int:
    """Make Redis hold exactly the active tokens (PostgreSQL is the truth)."""
    rows = session.scalars(select(ApiToken).where(ApiToken.revoked_at.is_(None))).all()
    mapping = {
        row.token_hash: json.dumps({"device": row.device, "is_admin": row.is_admin, "store": row.store}) for row in rows
    }
    key = tokens_key(prefix)
    pipe = client.pipeline(transaction=True)
    pipe.delete(key)
    if mapping:
        pipe.hset(key, mapping=mapping)
    pipe.execute()
    return len(mapping)


def lookup(client: redis.Redis, prefix: str, token: str) -> Caller | None:
    raw = client.hget(tokens_key(prefix), token_hash(token))
    return None if raw is None else Caller(**json.loads(raw))
