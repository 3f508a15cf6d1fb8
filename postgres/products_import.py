"""`salesync product import`: a catalogue from a CSV file, checked whole, then written in one transaction.

Every row is validated before anything is written, so a file with one bad row imports nothing and
every bad row is reported with its line number. A row whose sku already exists is an error
unless `update` is set; then its name, price, volatility and reorder level are replaced and its
stock is left alone (stock changes go through stock adjustments, which keep an audit trail).

A new product's opening stock goes to the row's `store` (main when the column is absent or the cell
empty); a store that does not exist is a row error, as a store is never created by an import.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TextIO

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.batching import batched
from domain.money import PrecisionError, check_level, check_price
from postgres.catalog import list_stores, move_stock, recheck_alerts
from postgres.tables import MAIN_STORE, Product

COLUMNS = ("sku", "name", "unit_price", "stock", "reorder_level", "is_volatile", "store")
REQUIRED = ("sku", "name")
TRUE, FALSE = {"true", "yes", "1", "y", "t"}, {"false", "no", "0", "n", "f", ""}
CHUNK = 200  # rows per INSERT / UPDATE statement (and per progress step)


@dataclass(frozen=True)
class Row:
    line: int
    sku: str
    name: str
    unit_price: Decimal | None
    stock: Decimal
    reorder_level: Decimal
    is_volatile: bool
    store: str = MAIN_STORE  # where a new product's opening stock goes


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Imported:
    created: int
    updated: int


class ImportFailed(Exception):
    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} error(s); nothing was imported")
        self.errors = errors


def read(source: TextIO) -> list[Row]:
    """Parse and check every row; raise ImportFailed listing every error (line numbers of the file)."""
    reader = csv.reader(source)
    errors: list[RowError] = []
    header = [name.strip().lower() for name in next(reader, [])]
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in REQUIRED if name not in header]
    if not header:
        raise ImportFailed([RowError(1, "the file is empty; the first line must name the columns")])
    if unknown or missing or len(set(header)) != len(header):
        problems = (
            ([f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
            + ([f"missing column(s) {', '.join(missing)}"] if missing else [])
            + (["a column is named twice"] if len(set(header)) != len(header) else [])
        )
        raise ImportFailed([RowError(1, f"{'; '.join(problems)} (columns: {', '.join(COLUMNS)})")])
    rows: list[Row] = []
    first_line: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are allowed
        if len(cells) != len(header):
            errors.append(RowError(line, f"has {len(cells)} fields, the header has {len(header)}"))
            continue
        row, row_errors = _row(line, dict(zip(header, cells)))
        errors += row_errors
        if row is not None:
            if row.sku in first_line:
                errors.append(RowError(line, f"sku {row.sku!r} is already on line {first_line[row.sku]}"))
            else:
                first_line[row.sku] = line
                rows.append(row)
    if not rows and not errors:
        errors.append(RowError(reader.line_num or 1, "no products in the file"))
    if errors:
        raise ImportFailed(errors)
    return rows


def _row(line: int, cells: dict[str, str]) -> tuple[Row | None, list[RowError]]:
    errors: list[str] = []

    def text(name: str, longest: int) -> str:
        value = cells.get(name, "").strip()
        if not value or len(value) > longest:
            errors.append(f"{name}: must be 1 to {longest} characters")
        return value

    def number(name: str, check: Callable[[Decimal], Decimal], default: Decimal) -> Decimal:
        raw = cells.get(name, "").strip()
        if not raw:
            return default
        try:
            return check(Decimal(raw))
        except InvalidOperation:
            errors.append(f"{name}: {raw!r} is not a decimal number")
        except PrecisionError as error:
            errors.append(f"{name}: {error}")
        return default

    def optional(name: str, check: Callable[[Decimal], Decimal]) -> Decimal | None:
        return number(name, check, Decimal(0)) if cells.get(name, "").strip() else None

    def flag(name: str) -> bool:
        value = cells.get(name, "").strip().lower()
        if value not in TRUE | FALSE:
            errors.append(f"{name}: {value!r} is not true or false")
        return value in TRUE

    # Checked in column order, so errors read left to right.
    row = Row(
        line,
        text("sku", 64),
        text("name", 200),
        optional("unit_price", check_price),
        number("stock", check_level, Decimal(0)),
        number("reorder_level", check_level, Decimal(0)),
        flag("is_volatile"),
        cells.get("store", "").strip() or MAIN_STORE,  # whether it exists is checked in write()
    )
    return (None if errors else row), [RowError(line, message) for message in errors]


def write(
    session: Session, rows: list[Row], update: bool = False, progress: Callable[[int], None] = lambda done: None
) -> Imported:
    """Create (or, with `update`, also update) every product, in the caller's transaction."""
    existing = _existing(session, [row.sku for row in rows])
    known = {store.code for store in list_stores(session)}
    errors = [
        RowError(row.line, f"sku {row.sku!r} already exists (pass --update to update it)")
        for row in rows
        if row.sku in existing and not update
    ] + [
        RowError(row.line, f"store {row.store!r} does not exist; create it first (salesync store create)")
        for row in rows
        if row.store not in known
    ]
    if errors:
        raise ImportFailed(sorted(errors, key=lambda error: error.line))
    new = [row for row in rows if row.sku not in existing]
    # By id: stock rows are then locked in the (product, store) order apply locks them in.
    changed = sorted((row for row in rows if row.sku in existing), key=lambda row: existing[row.sku])
    done = 0
    for chunk in batched(new, CHUNK):
        created = session.execute(insert(Product).returning(Product.id, Product.sku), [_fields(row) for row in chunk])
        ids = {sku: product_id for product_id, sku in created}
        # As creating a product by the API does: a stock row in its store, an alert if below the reorder level.
        move_stock(
            session, {(ids[row.sku], row.store): row.stock for row in chunk}, {ids[row.sku]: row for row in chunk}
        )
        done += len(chunk)
        progress(done)
    for chunk in batched(changed, CHUNK):
        session.execute(sql_update(Product), [{"id": existing[row.sku], **_fields(row)} for row in chunk])
        recheck_alerts(session, {existing[row.sku]: row for row in chunk})
        done += len(chunk)
        progress(done)
    return Imported(created=len(new), updated=len(changed))


def _existing(session: Session, skus: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in batched(skus, CHUNK):
        query = select(Product.sku, Product.id).where(Product.sku.in_(chunk)).with_for_update()
        found |= dict(session.execute(query).all())
    return found


def _fields(row: Row) -> dict:
    return {
        "sku": row.sku,
        "name": row.name,
        "unit_price": row.unit_price,
        "reorder_level": row.reorder_level,
        "is_volatile": row.is_volatile,
    }
