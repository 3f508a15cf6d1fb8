"""A sale as a till sent it, validated: the value that travels from intake to apply."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class NewProduct:
    """`product_data` on a line: a product the till knows and the server may not yet."""

    sku: str
    name: str
    is_volatile: bool
    unit_price: Decimal | None = None
    reorder_level: Decimal = Decimal(0)


@dataclass(frozen=True)
class Line:
    quantity: Decimal
    unit_price: Decimal | None  # None: sell at the product's current price
    product_id: int | None = None
    new_product: NewProduct | None = None


MAIN_STORE = "main"
SALE, RETURN = "sale", "return"  # a Sale's kinds
# Apply's status for a return whose original is not applied yet: never published; the worker
# puts the return back at the end of the queue, its intake record still "queued".
WAITING = "waiting"


@dataclass(frozen=True)
class Sale:
    """A sale, or a return (kind RETURN: its lines are what came back, its total the refund)."""

    external_id: str
    device: str  # who posted it, from the API token
    source_device: str  # what the till says it is
    client_timestamp: datetime
    received_at: datetime
    lines: tuple[Line, ...]
    store: str = MAIN_STORE  # the device's store when the sale was recorded
    kind: str = SALE
    original_external_id: str | None = None  # a return's original sale, if the till named it
    sequence: int | None = None  # the till's own number for the sale (1, 2, ...): gaps show lost sales

    @property
    def is_return(self) -> bool:
        return self.kind == RETURN

    @property
    def happened_at(self) -> datetime:
        """When the sale happened, as far as the server trusts the till: its clock, but never later
        than the server received it. It orders volatile prices (a till whose clock runs ahead
        cannot pin a price) and dates the sale in reports (not on a day still to come)."""
        return min(self.client_timestamp, self.received_at)

    @property
    def clock_ahead(self) -> bool:
        """The till's clock ran ahead of the server's when it made this sale."""
        return self.client_timestamp > self.received_at

    def to_dict(self) -> dict:
        return {
            "external_id": self.external_id,
            "device": self.device,
            "source_device": self.source_device,
            "client_timestamp": self.client_timestamp.isoformat(),
            "received_at": self.received_at.isoformat(),
            "lines": [_line_to_dict(line) for line in self.lines],
            "store": self.store,
            "kind": self.kind,
            "original_external_id": self.original_external_id,
            "sequence": self.sequence,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Sale:
        return cls(
            external_id=data["external_id"],
            device=data["device"],
            source_device=data["source_device"],
            client_timestamp=datetime.fromisoformat(data["client_timestamp"]),
            received_at=datetime.fromisoformat(data["received_at"]),
            lines=tuple(_line_from_dict(line) for line in data["lines"]),
            # Sales queued before stores and returns existed hold none of these.
            store=data.get("store", MAIN_STORE),
            kind=data.get("kind", SALE),
            original_external_id=data.get("original_external_id"),
            sequence=data.get("sequence"),  # queued before sequences existed: none
        )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _line_to_dict(line: Line) -> dict:
    new = line.new_product
    return {
        "quantity": str(line.quantity),
        "unit_price": _text(line.unit_price),
        "product": line.product_id,
        "product_data": None
        if new is None
        else {
            "sku": new.sku,
            "name": new.name,
            "is_volatile": new.is_volatile,
            "unit_price": _text(new.unit_price),
            "reorder_level": str(new.reorder_level),
        },
    }


def _line_from_dict(data: dict) -> Line:
    new = data["product_data"]
    return Line(
        quantity=Decimal(data["quantity"]),
        unit_price=_number(data["unit_price"]),
        product_id=data["product"],
        new_product=None
        if new is None
        else NewProduct(
            sku=new["sku"],
            name=new["name"],
            is_volatile=new["is_volatile"],
            unit_price=_number(new["unit_price"]),
            reorder_level=Decimal(new["reorder_level"]),
        ),
    )


@dataclass(frozen=True)
class Failures:
    """How often applying a sale has failed so far (counted in Redis, on its clock)."""

    attempts: int  # failed attempts to apply a sale so far
    seconds: float  # since its first failed attempt


def canonical_uuid(text: str) -> str | None:
    """An external_id in its canonical spelling (any UUID spelling accepted), or None if not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None
