"""Response models: what each answer looks like, for the OpenAPI document (web/openapi.py).

The views build plain dicts (web/views.py, postgres/statuses.py); these models only describe them, and the
end-to-end tests hold every answer they receive against the schemas generated from them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from web.schemas import STORE_CODE


def _absent(schema: dict) -> None:
    """A field that is left out rather than sent as null: no default in the schema."""
    schema.pop("default", None)


def optional(**kwargs):
    return Field(None, json_schema_extra=_absent, **kwargs)


Quantity = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+(\.[0-9]+)?$",
        examples=["0.75", "2", "-50"],
        description="An exact decimal in its shortest form.",
    ),
]
StoreCode = Annotated[str, Field(pattern=STORE_CODE, examples=["main"], description="A store's code.")]
Money = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+\.[0-9]{2,}$",
        examples=["1.50", "1.125"],
        description="An exact amount with at least two decimal places.",
    ),
]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(Closed):
    field: str = Field(description="The field's path in the body, e.g. items.0.quantity; body for the body itself.")
    message: str


class Problem(Closed):
    """An RFC 9457 problem document (application/problem+json)."""

    type: Literal["about:blank"]
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    errors: list[FieldError] = optional(description="Present on validation failures only.")


class SaleQueued(Closed):
    external_id: UUID
    status: Literal["queued"]


class SaleLine(Closed):
    product: int
    quantity: Quantity
    unit_price: Money
    subtotal: Money


class AppliedSale(Closed):
    external_id: UUID
    device: str
    source_device: str
    store: StoreCode = Field(description="The store of the sending device when the sale was recorded.")
    kind: Literal["sale", "return"] = Field(description="`return`: the items came back; the total is the refund.")
    original_external_id: UUID | None = optional(
        description="Returns only: the original sale the till named, or null when it named none."
    )
    client_timestamp: datetime = Field(description="As the till sent it, even when its clock ran ahead.")
    clock_ahead: bool = Field(
        description="true: client_timestamp was later than received_at (the till's clock ran ahead); "
        "reports and volatile prices date the sale when it was received"
    )
    synced_at: datetime
    total: Money = Field(description="Sum of the subtotals; a return's is the refund, positive too.")
    items: list[SaleLine]


class QueuedStatus(Closed):
    external_id: UUID
    status: Literal["queued"]
    received_at: datetime


class AppliedStatus(Closed):
    external_id: UUID
    status: Literal["applied"]
    received_at: datetime
    sale: AppliedSale


class RejectedStatus(Closed):
    external_id: UUID
    status: Literal["rejected"]
    received_at: datetime
    error: str = Field(description="Why the sale cannot be applied, for a person to act on.")


SaleStatus = Annotated[QueuedStatus | AppliedStatus | RejectedStatus, Field(discriminator="status")]


class BatchResult(Closed):
    status: Literal[200, 202, 400, 413, 422, 503] = Field(
        description="As POST /api/sales/ would answer this sale alone; 503: Redis is at its bound, retry it later."
    )
    body: SaleQueued | QueuedStatus | AppliedStatus | RejectedStatus | Problem


class BatchResults(Closed):
    results: list[BatchResult] = Field(description="One result per sale, in the order sent.")


class StatusResult(Closed):
    status: Literal[200, 404]
    body: QueuedStatus | AppliedStatus | RejectedStatus | Problem


class StatusResults(Closed):
    results: list[StatusResult] = Field(
        description="One result per external_id, in the order asked: what "
        "GET /api/sales/{external_id}/ would answer for it."
    )


class Product(Closed):
    id: int
    sku: str
    name: str
    is_volatile: bool
    unit_price: Money | None
    stock: Quantity = Field(description="The sum of stock_by_store.")
    stock_by_store: dict[StoreCode, Quantity] = Field(
        description="Stock by store code; a store that never had stock of the product is left out.",
        json_schema_extra={"additionalProperties": False},
    )
    reorder_level: Quantity
    active: bool = Field(description="false: no longer offered; a sale a till made offline still applies")
    created_at: datetime
    updated_at: datetime


class ProductPage(Closed):
    """GET /api/sync/products/: one page of the products changed since the cursor."""

    products: list[Product] = Field(description="Changed products by id, each as GET /api/products/{id}/ answers it.")
    cursor: str = Field(description="Opaque: send it as `cursor` to read the next page, or the next pull.")
    has_more: bool = Field(description="true: pull again at once with `cursor`; false: up to date.")


class Store(Closed):
    code: StoreCode
    name: str
    created_at: datetime


class Alert(Closed):
    id: int
    product: int
    store: StoreCode = Field(description="The store whose stock fell below the reorder level.")
    status: Literal["open", "resolved"]
    stock: Quantity
    reorder_level: Quantity
    raised_at: datetime
    resolved_at: datetime | None


class Bucket(Closed):
    date: date
    quantity: Quantity
    revenue: Money


class ProductFigures(Closed):
    product: Product
    total_quantity_sold: Quantity
    total_revenue: Money
    average_unit_price: Money | None


class ReportFigures(Closed):
    period: Literal["daily", "weekly", "monthly"]
    start_date: date
    end_date: date
    total_quantity_sold: Quantity
    total_revenue: Money
    average_unit_price: Money | None
    period_breakdown: list[Bucket]
    store: StoreCode = optional(description="Present only when asked for one store (?store=).")
    as_of: datetime | None


class ProductReport(ReportFigures):
    """With product_id: one product's sales."""

    product: Product


class FleetReport(ReportFigures):
    """Without product_id: every product together, plus the top sellers by revenue."""

    product: None
    products: list[ProductFigures]


class DeviceSales(Closed):
    queued: int = Field(ge=0, description="Recorded, not yet applied or rejected (returns waiting included).")
    applied: int = Field(ge=0)
    rejected: int = Field(ge=0)


class Device(Closed):
    """A device of the fleet (one that holds or held a token), as GET /api/devices/ shows it."""

    device: str
    store: StoreCode
    admin: bool
    active: bool = Field(description="False when every token of the device is revoked.")
    last_seen: datetime | None = Field(description="Its last authenticated request (within a few seconds).")
    last_sale_received_at: datetime | None = Field(description="When its latest sale, queued or settled, arrived.")
    sales: DeviceSales
    oldest_queued_seconds: float | None = Field(ge=0, description="Age of its oldest queued sale; null: none.")
    highest_sequence: int | None = Field(ge=1, description="The highest `sequence` of its settled sales.")
    missing_sequences: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        description="Ranges [from, to] of numbers below the highest not received for longer than "
        "SALESYNC_GAP_GRACE seconds: sales the till lost or has not sent."
    )
    sequence_conflicts: int = Field(ge=0, description="Different sales sent with a number already taken.")
    clock_skew_seconds: float | None = Field(
        description="How far its clock is ahead of the server's (negative: behind), from its recent "
        "sales; null: unknown."
    )


class Health(Closed):
    status: Literal["ok"]


class Checks(Closed):
    redis: Literal["ok", "unreachable"]
    postgresql: Literal["ok", "unreachable"]
    migrations: Literal["ok", "pending", "unreachable"]


class Readiness(Closed):
    status: Literal["ready", "not ready"]
    checks: Checks
