"""The simulated fleet's workload: a run's stores and products, each till's offline sales and
returns, and the check of what PostgreSQL holds afterwards against what the tills were told."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import Engine, func, select, text

from domain.batching import batched
from postgres import tables

SOURCE_DEVICE = "salesync-simulate/1"
OTHER_TRACKED = 20  # tracked products a run uses besides its hot ones
MAX_LINES = 4
MAIN = tables.MAIN_STORE


def store_codes(count: int) -> list[str]:
    """A run's stores: main, then S1 .. S<count - 1>."""
    return [MAIN] + [f"S{n}" for n in range(1, count)]


def assign_stores(devices: Sequence[str], stores: Sequence[str]) -> dict[str, str]:
    """Each till's store, in turn, so every store gets its share of the tills."""
    return {device: stores[n % len(stores)] for n, device in enumerate(devices)}


@dataclass(frozen=True)
class Mix:
    """The product mix: how many products of each kind a run creates, and each kind's share of
    sale lines; the rest of the lines sell the other tracked products."""

    hot_products: int = 5  # tracked, with stock: the contended rows
    hot_share: float = 0.2
    volatile_products: int = 10  # sold without stock tracking
    volatile_share: float = 0.2
    inline_products: int = 10  # created by the first sale's product_data, every device racing to
    inline_share: float = 0.1

    def problems(self) -> list[str]:
        kinds = [
            ("hot", self.hot_products, self.hot_share),
            ("volatile", self.volatile_products, self.volatile_share),
            ("inline", self.inline_products, self.inline_share),
        ]
        problems = [
            f"--{kind}-share is above 0 with no {kind} products"
            for kind, count, share in kinds
            if share > 0 and count == 0
        ]
        if self.hot_share + self.volatile_share + self.inline_share > 1 + 1e-9:
            problems.append("--hot-share, --volatile-share and --inline-share add up to more than 1")
        return problems


@dataclass
class CatalogProduct:
    sku: str
    is_volatile: bool
    unit_price: Decimal
    stock: Decimal = Decimal(0)  # opening stock
    reorder_level: Decimal = Decimal(0)
    inline: bool = False  # created by a sale's product_data, not by the admin
    id: int | None = None

    def create_body(self, stores: Sequence[str] = (MAIN,)) -> dict:
        """The admin's POST /api/products/: `stock` opens main, or in several stores each one."""
        opening: dict[str, Any] = (
            {"stock": str(self.stock)}
            if list(stores) == [MAIN]
            else {"stock_by_store": {store: str(self.stock) for store in stores}}
        )
        return {
            "sku": self.sku,
            "name": f"Simulated {self.sku}",
            "is_volatile": self.is_volatile,
            "unit_price": str(self.unit_price),
            **opening,
            "reorder_level": str(self.reorder_level),
        }

    def product_data(self) -> dict:
        return {
            "sku": self.sku,
            "name": f"Simulated {self.sku}",
            "is_volatile": self.is_volatile,
            "reorder_level": str(self.reorder_level),
        }


@dataclass
class Catalog:
    hot: list[CatalogProduct]
    tracked: list[CatalogProduct]
    volatile: list[CatalogProduct]
    inline: list[CatalogProduct]  # shared by every device, so they race to create them
    mix: Mix = Mix()
    stores: list[str] = field(default_factory=lambda: [MAIN])  # each opens with a product's stock

    @property
    def products(self) -> list[CatalogProduct]:
        return self.hot + self.tracked + self.volatile + self.inline

    def opening(self) -> dict[tuple[str, str], Decimal]:
        """Opening stock of each tracked product in each store, by (sku, store): inline ones have none."""
        return {
            (product.sku, store): Decimal(0) if product.inline else product.stock
            for product in self.products
            if not product.is_volatile
            for store in self.stores
        }


def make_catalog(run_id: str, mix: Mix = Mix(), stores: Sequence[str] = (MAIN,)) -> Catalog:
    def sku(kind: str, n: int) -> str:
        return f"SIM-{run_id}-{kind}{n:03d}"

    return Catalog(
        hot=[
            CatalogProduct(sku("HOT", n), False, Decimal("2.50"), Decimal(1000), Decimal(100))
            for n in range(mix.hot_products)
        ],
        tracked=[
            CatalogProduct(sku("TRK", n), False, Decimal("4.99"), Decimal(200), Decimal(20))
            for n in range(OTHER_TRACKED)
        ],
        volatile=[CatalogProduct(sku("VOL", n), True, Decimal("1.20")) for n in range(mix.volatile_products)],
        inline=[
            CatalogProduct(sku("NEW", n), n % 2 == 1, Decimal(0), reorder_level=Decimal(5), inline=True)
            for n in range(mix.inline_products)
        ],
        mix=mix,
        stores=list(stores),
    )


@dataclass
class PlannedSale:
    body: dict
    total: Decimal  # what the server must compute
    sold: dict[str, Decimal]  # quantity per tracked product's sku
    invalid: bool = False
    store: str = MAIN  # its till's store: where its stock moves
    returned: dict[str, Decimal] = field(default_factory=dict)  # a return's quantity per tracked product's sku
    answers: list[int] = field(default_factory=list)  # HTTP status per delivery; 0: no answer
    accepted_at: float | None = None  # monotonic time of the first 202/200: roughly the apply order
    status: str | None = None  # last polled: queued, applied or rejected
    token: str = ""  # its till's token: each till polls its own sales, within its own rate limit
    error: str | None = None  # why, if rejected

    @property
    def external_id(self) -> str:
        return self.body["external_id"]

    @property
    def accepted(self) -> bool:
        return any(code in (200, 202) for code in self.answers)

    @property
    def is_return(self) -> bool:
        return self.body.get("kind") == "return"


@dataclass
class Device:
    name: str
    token: str
    sales: list[PlannedSale]
    resend: list[PlannedSale] = field(default_factory=list)  # sent again: the first answer "got lost"
    store: str = MAIN


def plan_fleet(
    rng: random.Random,
    tokens: dict[str, str],
    per_device: int,
    catalog: Catalog,
    retry_share: float,
    invalid_share: float,
    stores: Mapping[str, str] | None = None,
    return_share: float = 0.0,
) -> list[Device]:
    """Every device's offline queue, built up front; exact shares of invalid and re-sent sales.
    `stores`: each device's store (default main). `return_share`: the share of each till's
    `per_device` sales that are returns of its own earlier valid sales (fewer only if nothing is
    left to bring back)."""
    returns = min(round(return_share * per_device), per_device - 1)  # a till returns only what it sold
    devices = [
        Device(name, token, offline_sales(rng, per_device - returns, catalog), store=(stores or {}).get(name, MAIN))
        for name, token in tokens.items()
    ]
    everything = [sale for device in devices for sale in device.sales]
    # Only sales are made invalid, never returns: a return's original must apply.
    invalid = min(round(invalid_share * per_device * len(devices)), len(everything))
    for sale in rng.sample(everything, invalid):
        sale.invalid, sale.sold, sale.total = True, {}, Decimal(0)
        sale.body["items"][0]["quantity"] = "1.2345"  # four decimal places: a 400
    for device in devices:
        if returns:
            device.sales = with_returns(rng, device.sales, returns, catalog)
        for sale in device.sales:
            sale.store = device.store
        valid = [sale for sale in device.sales if not sale.invalid]
        device.resend = rng.sample(valid, round(retry_share * len(valid)))
    return devices


def with_returns(rng: random.Random, sales: list[PlannedSale], count: int, catalog: Catalog) -> list[PlannedSale]:
    """A till's queue with up to `count` returns slipped in, each somewhere after its original (an
    earlier valid sale of the till), so the till sends it once the original was acknowledged.
    Together a sale's returns never bring back more of a product than it sold: every return applies."""
    by_id = {product.id: product for product in catalog.products if product.id is not None}
    left = {sale.external_id: returnable(sale, by_id) for sale in sales if not sale.invalid}
    queue = list(sales)
    for _ in range(count):
        originals = [index for index, sale in enumerate(queue) if left.get(sale.external_id)]
        if not originals:
            break
        index = rng.choice(originals)
        back = plan_return(rng, queue[index], left[queue[index].external_id], by_id)
        queue.insert(rng.randint(index + 1, len(queue)), back)
    return queue


def returnable(sale: PlannedSale, by_id: Mapping[int, CatalogProduct]) -> dict[int, tuple[Decimal, Decimal]]:
    """What of a sale may come back, by product id: (quantity, the price it sold at). Lines that
    created their product (product_data) are left out: a return names products by id."""
    left: dict[int, tuple[Decimal, Decimal]] = {}
    for item in sale.body["items"]:
        if "product" in item:
            price = Decimal(item["unit_price"]) if "unit_price" in item else by_id[item["product"]].unit_price
            quantity = left.get(item["product"], (Decimal(0), price))[0] + Decimal(item["quantity"])
            left[item["product"]] = (quantity, price)
    return left


def plan_return(
    rng: random.Random,
    original: PlannedSale,
    left: dict[int, tuple[Decimal, Decimal]],
    by_id: Mapping[int, CatalogProduct],
) -> PlannedSale:
    """A return of some of what is `left` of `original` (taken off `left`), at the price it sold at."""
    items, total, returned = [], Decimal(0), dict[str, Decimal]()
    for product_id in rng.sample(sorted(left), rng.randint(1, len(left))):
        quantity, price = left.pop(product_id)
        back = quantity
        if quantity > 1 and rng.random() < 0.5:  # half of it, so later returns may bring back the rest
            back = (quantity / 2).quantize(Decimal("0.001"), ROUND_DOWN)
            left[product_id] = (quantity - back, price)
        # The price is sent, not left to the product's: a volatile product's may have changed since.
        items.append({"product": product_id, "quantity": str(back), "unit_price": str(price)})
        total += back * price
        if not by_id[product_id].is_volatile:
            sku = by_id[product_id].sku
            returned[sku] = returned.get(sku, Decimal(0)) + back
    sold_at = datetime.fromisoformat(original.body["client_timestamp"])
    body = {
        "external_id": str(uuid.uuid4()),
        "source_device": SOURCE_DEVICE,
        "client_timestamp": (sold_at + (datetime.now(UTC) - sold_at) * rng.random()).isoformat(timespec="milliseconds"),
        "kind": "return",
        "original_external_id": original.external_id,
        "items": items,
    }
    return PlannedSale(body, total, {}, returned=returned)


def offline_sales(rng: random.Random, count: int, catalog: Catalog) -> list[PlannedSale]:
    now = datetime.now(UTC)
    offline = timedelta(hours=rng.uniform(1, 48))  # went offline that long ago
    moments = sorted(now - offline * rng.random() for _ in range(count))
    sales = []
    for moment in moments:
        items: list[dict] = []
        total, sold = Decimal(0), dict[str, Decimal]()
        for _ in range(rng.randint(1, MAX_LINES)):
            item, product, quantity, price = sale_line(rng, catalog)
            items.append(item)
            total += quantity * price
            if not product.is_volatile:
                sold[product.sku] = sold.get(product.sku, Decimal(0)) + quantity
        body = {
            "external_id": str(uuid.uuid4()),
            "source_device": SOURCE_DEVICE,
            "client_timestamp": moment.isoformat(timespec="milliseconds"),
            "items": items,
        }
        sales.append(PlannedSale(body, total, sold))
    return sales


def sale_line(rng: random.Random, catalog: Catalog) -> tuple[dict, CatalogProduct, Decimal, Decimal]:
    draw, mix = rng.random(), catalog.mix
    if draw < mix.hot_share:
        product = rng.choice(catalog.hot)
    elif draw < mix.hot_share + mix.inline_share:
        product = rng.choice(catalog.inline)
    elif draw < mix.hot_share + mix.inline_share + mix.volatile_share:
        product = rng.choice(catalog.volatile)
    else:
        product = rng.choice(catalog.tracked)
    if product.is_volatile or rng.random() < 0.3:
        quantity = Decimal(rng.randint(50, 2500)).scaleb(-3)  # weighed: up to 3 places
    else:
        quantity = Decimal(rng.randint(1, 3))
    price = Decimal(rng.randint(50, 99999)).scaleb(-4)  # up to 4 places
    line: dict[str, Any] = {"quantity": str(quantity), "unit_price": str(price)}
    if product.inline:
        line["product_data"] = product.product_data()
    else:
        line["product"] = product.id
        if not product.is_volatile and rng.random() < 0.5:
            del line["unit_price"]  # sold at the product's own price
            price = product.unit_price
    return line, product, quantity, price


def _first_accepted(answers: list[int]) -> int:
    return next(index for index, code in enumerate(answers) if code in (200, 202))


def answer_problems(sales: list[PlannedSale]) -> list[str]:
    """What the tills were answered and saw, against what the API promises."""
    problems = []
    for sale in sales:
        expected = "400" if sale.invalid else "202 or 200"
        first = sale.answers[0] if sale.answers else None
        if (sale.invalid and first != 400) or (not sale.invalid and not sale.accepted):
            problems.append(f"sale {sale.external_id}: expected {expected}, answered {sale.answers or 'never sent'}")
        elif sale.accepted and sale.status != "applied":
            why = f" ({sale.error})" if sale.error else ""
            problems.append(f"sale {sale.external_id}: accepted but {sale.status or 'never seen'}{why}, not applied")
    # After its first 202 or 200, a sale sent again is answered 200 (a sale refused for now, 503 in a
    # batch's results, is sent again until accepted: those answers come before).
    repeats = [
        code
        for sale in sales
        if not sale.invalid and sale.accepted
        for code in sale.answers[_first_accepted(sale.answers) + 1 :]
    ]
    if any(code != 200 for code in repeats):
        problems.append(f"re-sent sales answered {dict(Counter(repeats))}, expected 200 each")
    return problems


def verify(engine: Engine, catalog: Catalog, sales: list[PlannedSale]) -> list[str]:
    """Read-only check of PostgreSQL against what the fleet was told."""
    accepted = {sale.external_id: sale for sale in sales if sale.accepted and not sale.invalid}
    invalid = [sale.external_id for sale in sales if sale.invalid]
    # Stock per (product, store): opening - sold + returned, in the store of the till that sold.
    expected_stock = catalog.opening()
    for sale in accepted.values():
        for sku, quantity in sale.sold.items():
            expected_stock[sku, sale.store] = expected_stock.get((sku, sale.store), Decimal(0)) - quantity
        for sku, quantity in sale.returned.items():
            expected_stock[sku, sale.store] = expected_stock.get((sku, sale.store), Decimal(0)) + quantity
    tracked = sorted({sku for sku, _ in expected_stock})
    s, i, level = tables.Sale, tables.SaleItem, tables.StockLevel
    with engine.begin() as db:
        db.execute(text("SET TRANSACTION READ ONLY"))
        rows: list[Any] = []
        present: set[str] = set()
        stock: dict[tuple[str, str], Decimal] = {}
        for chunk in batched(list(accepted) + invalid, 1000):
            rows += db.execute(
                select(s.external_id, s.total, func.count(i.id), s.kind, s.store)
                .outerjoin(i, i.sale_id == s.id)
                .where(s.external_id.in_(chunk))
                .group_by(s.id)
            ).all()
            present |= set(
                db.scalars(select(tables.RejectedSale.external_id).where(tables.RejectedSale.external_id.in_(chunk)))
            )
        for chunk in batched(tracked, 1000):
            found = db.execute(
                select(tables.Product.sku, level.store, level.quantity)
                .join(level, level.product_id == tables.Product.id)
                .where(tables.Product.sku.in_(chunk))
            )
            stock |= {(sku, store): quantity for sku, store, quantity in found}
    problems = []
    times = Counter(row[0] for row in rows)
    for external_id, total, lines, kind, store in rows:
        stored = accepted.get(external_id)
        if stored is None:
            problems.append(f"invalid sale {external_id} is in sales")
        elif (total, lines) != (stored.total, len(stored.body["items"])):
            problems.append(
                f"sale {external_id}: total {total} with {lines} lines, "
                f"expected {stored.total} with {len(stored.body['items'])}"
            )
        elif (kind, store) != (stored.body.get("kind", "sale"), stored.store):
            problems.append(
                f"sale {external_id}: a {kind} in store {store}, "
                f"expected a {stored.body.get('kind', 'sale')} in store {stored.store}"
            )
    problems += [
        f"sale {external_id} is in sales {times[external_id]} times, expected once"
        for external_id in accepted
        if times[external_id] != 1
    ]
    problems += [
        f"invalid sale {external_id} is in rejected_sales" for external_id in invalid if external_id in present
    ]
    # A store without a row of a product has none of it; a row where none was expected must hold 0.
    problems += [
        f"product {sku} in store {store}: stock {stock.get((sku, store), 'missing')}, "
        f"expected {expected_stock.get((sku, store), Decimal(0))}"
        for sku, store in sorted(expected_stock.keys() | stock.keys())
        if stock.get((sku, store), Decimal(0)) != expected_stock.get((sku, store), Decimal(0))
    ]
    return problems


def applied_window(engine: Engine, sales: list[PlannedSale]) -> float | None:
    """Seconds from the first of these sales received to the last applied, by the server's clocks
    (the polls' own pace does not count); None unless every accepted sale is in PostgreSQL."""
    accepted = [sale.external_id for sale in sales if sale.accepted]
    s = tables.Sale
    found, first, last = 0, None, None
    with engine.begin() as db:
        db.execute(text("SET TRANSACTION READ ONLY"))
        for chunk in batched(accepted, 1000):
            count, received, synced = db.execute(
                select(func.count(), func.min(s.received_at), func.max(s.synced_at)).where(s.external_id.in_(chunk))
            ).one()
            if count:
                found += count
                first = received if first is None else min(first, received)
                last = synced if last is None else max(last, synced)
    if not accepted or found != len(accepted) or first is None or last is None:
        return None
    return (last - first).total_seconds()
