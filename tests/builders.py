"""Memorable test data: sales as a till would queue them, in the shape apply receives."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from domain.sale import Line, NewProduct, Sale

NOON = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)


def line(product_id: int | None = None, quantity="1", unit_price="1.00", new: NewProduct | None = None) -> Line:
    return Line(Decimal(quantity), None if unit_price is None else Decimal(unit_price), product_id, new)


def new_product(sku="JUICE-1L", name="Juice 1L", is_volatile=False, unit_price="0.50", reorder_level="0"):
    return NewProduct(sku, name, is_volatile, None if unit_price is None else Decimal(unit_price), Decimal(reorder_level))


def sale(*lines: Line, device="till-1", at: datetime = NOON, minutes_later: int = 0, external_id=None) -> dict:
    """A sale as Sale.to_dict(), the value the stream carries."""
    return Sale(
        external_id=external_id or str(uuid.uuid4()),
        device=device,
        source_device="mobile-app-v1.2",
        client_timestamp=at + timedelta(minutes=minutes_later),
        received_at=NOON + timedelta(days=1),
        lines=tuple(lines),
    ).to_dict()
