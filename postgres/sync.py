"""The catalogue pull: every product changed since a cursor, in pages, never missing a change.

A trigger stamps each product and stock-level row with the id of the transaction that wrote it
(migration 0008). A pull reads in a REPEATABLE READ snapshot S and answers the products stamped at
or after its cursor's watermark W. When it is done, the next watermark is xmin(S): the oldest
transaction S could not see. A change S did not see was made by a transaction that was still
running when S was taken or began after it, so its id is >= xmin(S) and the next pull answers it,
whatever order transactions committed in. A change S did see may be answered again; clients
upsert by id, so that costs bytes, never correctness. The argument in full: docs/design.md.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sqlalchemy import select, text, union
from sqlalchemy.orm import Session

from postgres.tables import Product, StockLevel

SNAPSHOT_XMIN = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """Where a client's pull stands. `watermark`: rows stamped at or after it are answered (0:
    the whole catalogue). Within a pull of several pages, `after` is the last product id answered
    and `next_watermark` the xmin of the first page's snapshot, the next pull's watermark."""

    watermark: int = 0
    next_watermark: int | None = None
    after: int = 0

    def encode(self) -> str:
        raw = f"{self.watermark}.{self.next_watermark or 0}.{self.after}".encode()
        return "v1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            version, _, payload = text.partition(".")
            if version != "v1":
                raise ValueError
            parts = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("ascii").split(".")
            watermark, next_watermark, after = (int(part) for part in parts)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadCursor("cursor is not one this server gave out; pull again without a cursor") from None
        if min(watermark, next_watermark, after) < 0 or max(watermark, next_watermark) >= 2**63:
            raise BadCursor("cursor is not one this server gave out; pull again without a cursor")
        return cls(watermark, next_watermark or None, after)


@dataclass(frozen=True)
class Page:
    products: list[Product]
    cursor: Cursor  # the one to send next
    has_more: bool


def pull(session: Session, cursor: Cursor, limit: int) -> Page:
    """One page of changed products, by id. `session` must not have run a statement yet: the page
    is read in one REPEATABLE READ, read-only snapshot."""
    session.connection(execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True})
    xmin = session.execute(SNAPSHOT_XMIN).scalar_one()
    changed = union(
        select(Product.id).where(Product.change_xid >= cursor.watermark, Product.id > cursor.after),
        select(StockLevel.product_id).where(
            StockLevel.change_xid >= cursor.watermark, StockLevel.product_id > cursor.after
        ),
    ).subquery()
    ids = select(changed.c.id).order_by(changed.c.id).limit(limit + 1)
    found = list(session.scalars(select(Product).where(Product.id.in_(ids)).order_by(Product.id)))
    page, has_more = found[:limit], len(found) > limit
    next_watermark = cursor.next_watermark if cursor.after else xmin  # fixed by the pull's first page
    if has_more:
        return Page(page, Cursor(cursor.watermark, next_watermark, page[-1].id), True)
    if not page and not cursor.after:
        return Page(page, cursor, False)  # nothing changed: the same cursor, so the same answer (304)
    return Page(page, Cursor(next_watermark or 0), False)
