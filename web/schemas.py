"""Request models: the one place that says what a valid body is (and, later, the OpenAPI schema)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonDict

from domain.money import PrecisionError, check_level, check_price, check_quantity

MAX_ITEMS = 500
MAX_BATCH = 1000  # sales per POST /api/sales/batch/
MAX_STATUS_IDS = 1000  # external_ids per POST /api/sales/status/


def exact(check: Callable[[Decimal], Decimal]) -> Callable[[object], Decimal]:
    """Numbers arrive as strings or as JSON numbers already read exactly into Decimal; never float."""

    def parse(value: object) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise ValueError("must be a decimal number, as a string or a JSON number")
        try:
            number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
        except ArithmeticError:
            raise ValueError("must be a decimal number") from None
        try:
            return check(number)
        except PrecisionError as error:
            raise ValueError(str(error)) from None

    return parse


def decimal_schema(places: int, low: dict, string: str, description: str) -> WithJsonSchema:
    """The OpenAPI view of an exact decimal: a JSON number, or a string in canonical form (`string`: the
    regular expression). The parser is more lenient (surrounding spaces, trailing zeros, exponents)."""
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", **low, "exclusiveMaximum": 1_000_000_000, "multipleOf": float(f"1e-{places}")},
                {"type": "string", "pattern": string},
            ],
            "description": f"{description}, up to {places} decimal places; never rounded",
        }
    )


Quantity = Annotated[
    Decimal,
    BeforeValidator(exact(check_quantity)),
    decimal_schema(
        3,
        {"exclusiveMinimum": 0, "exclusiveMaximum": 1_000_000},
        r"^0*([1-9][0-9]{0,5}(\.[0-9]{1,3})?|\.(00[1-9]|0[1-9][0-9]?|[1-9][0-9]{0,2}))$",
        "A sale line's quantity: > 0 and < 1,000,000",
    ),
]
Price = Annotated[
    Decimal,
    BeforeValidator(exact(check_price)),
    decimal_schema(4, {"minimum": 0}, r"^[0-9]{1,9}(\.[0-9]{1,4})?$", "A price: >= 0 and < 1,000,000,000"),
]
Level = Annotated[
    Decimal,
    BeforeValidator(exact(check_level)),
    decimal_schema(
        3,
        {"exclusiveMinimum": -1_000_000_000},
        r"^-?[0-9]{1,9}(\.[0-9]{1,3})?$",
        "A level: signed, in size < 1,000,000,000",
    ),
]


def no_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold it
        raise ValueError("must not contain the NUL character")
    return value


# Stripped first, then measured: a name of spaces alone is empty, not accepted as "".
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(no_nul)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(no_nul)]
Device = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(no_nul)]
STORE_CODE = r"^[A-Za-z0-9_-]{1,32}$"
StoreCode = Annotated[StrictStr, Field(pattern=STORE_CODE, description="A store's code: 1-32 of A-Z a-z 0-9 - _")]


def aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, for example 2026-01-31T14:30:00Z")
    # A time in the future is kept as sent: a till whose clock runs ahead has still taken the money
    # (reports and prices use the time the server received it instead: Sale.happened_at).
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("is out of range") from None


class ProductData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    name: Text
    is_volatile: StrictBool
    unit_price: Price | None = None
    reorder_level: Level = Decimal(0)


PRICED: JsonDict = {"required": ["unit_price"], "properties": {"unit_price": {"not": {"type": "null"}}}}
# one_product() below, for the OpenAPI document: a product id, or product_data with a price somewhere.
ONE_PRODUCT: JsonDict = {
    "oneOf": [
        {"required": ["product"], "properties": {"product": {"type": "integer"}, "product_data": {"type": "null"}}},
        {
            "required": ["product_data"],
            "properties": {"product": {"type": "null"}, "product_data": {"type": "object"}},
            "anyOf": [PRICED, {"properties": {"product_data": PRICED}}],
        },
    ]
}


class SaleItem(BaseModel):
    # A client's subtotal is ignored: the server computes it.
    model_config = ConfigDict(extra="ignore", json_schema_extra=ONE_PRODUCT)
    product: Annotated[StrictInt, Field(gt=0)] | None = None
    product_data: ProductData | None = None
    quantity: Quantity
    unit_price: Price | None = None

    @model_validator(mode="after")
    def one_product(self) -> SaleItem:
        if (self.product is None) == (self.product_data is None):
            raise ValueError("give exactly one of product (an id) or product_data (a new product)")
        if self.product_data is not None and self.unit_price is None and self.product_data.unit_price is None:
            raise ValueError("a line with product_data needs a unit_price (on the line or in product_data)")
        return self


class SaleIn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a client's total is ignored: the server computes it
    external_id: UUID | None = None
    source_device: Device | None = None
    client_timestamp: Annotated[datetime, AfterValidator(aware)] | None = None
    items: Annotated[list[SaleItem], Field(min_length=1, max_length=MAX_ITEMS)]
    kind: Literal["sale", "return"] = Field(
        "sale", description="`return`: the items came back; quantities are what came back, the total is the refund"
    )
    original_external_id: UUID | None = Field(
        None, description="A return's original sale: what may come back is bounded by what it sold"
    )
    sequence: Annotated[StrictInt, Field(ge=1, le=2**62)] | None = Field(
        None, description="The till's number for this sale: 1 for its first, one more for each next one"
    )

    @model_validator(mode="after")
    def a_return_names_products(self) -> SaleIn:
        if self.kind == "return" and any(item.product_data is not None for item in self.items):
            raise ValueError("a return's items name products by id (product), never product_data")
        if self.kind == "sale" and self.original_external_id is not None:
            raise ValueError("only a return (kind: return) may name an original_external_id")
        return self


class StatusQueryIn(BaseModel):
    """POST /api/sales/status/: the sales to answer for, in order. An id that is not a UUID is answered 404
    in its place, as GET /api/sales/{external_id}/ answers it, so it is any string here."""

    external_ids: Annotated[list[StrictStr], Field(min_length=1, max_length=MAX_STATUS_IDS)]


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    name: Text
    is_volatile: StrictBool = False
    unit_price: Price | None = None
    stock: Level = Field(Decimal(0), description="Opening stock in the store `main`")
    stock_by_store: dict[StoreCode, Level] | None = Field(None, description="Opening stock by store code")
    reorder_level: Level = Decimal(0)

    @model_validator(mode="after")
    def main_once(self) -> ProductIn:
        if "stock" in self.model_fields_set and "main" in (self.stock_by_store or {}):
            raise ValueError("give main's opening stock once: in stock or in stock_by_store, not both")
        return self

    def opening_stock(self) -> dict[str, Decimal]:
        """Opening stock by store: `stock` goes to main, as it always did, unless only
        stock_by_store was given (then main has none unless it names main)."""
        if self.stock_by_store is None or "stock" in self.model_fields_set:
            return {"main": self.stock, **(self.stock_by_store or {})}
        return self.stock_by_store


class ProductPatchIn(BaseModel):
    """PATCH /api/products/<id>/: what may change. Stock changes only by stock adjustments."""

    model_config = ConfigDict(extra="forbid")
    name: Text | None = None
    unit_price: Price | None = Field(None, description="null: no default price (sale lines then need one)")
    reorder_level: Level | None = None
    active: StrictBool | None = Field(None, description="false: no longer offered; offline sales still apply")

    @model_validator(mode="after")
    def something(self) -> ProductPatchIn:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, unit_price, reorder_level, active")
        for name in ("name", "reorder_level", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self

    def changes(self) -> dict:
        return self.model_dump(include=self.model_fields_set)


class StockAdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: Level
    reason: Text
    store: StoreCode = Field("main", description="The store whose stock changes")


class StoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: StoreCode
    name: Text
