"""Stores, products, stock adjustments and low-stock alerts."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from postgres import catalog
from postgres.tables import Product
from web.auth import authenticate
from web.body import parse, read_json
from web.problems import ProblemError, invalid
from web.schemas import ProductIn, ProductPatchIn, StockAdjustmentIn, StoreIn
from web.views import alert_view, product_view, store_view

blueprint = Blueprint("catalog", __name__)


def sessions():
    return current_app.extensions["salesync"].sessions


@blueprint.get("/api/stores/")
def list_stores():
    authenticate()
    with sessions()() as session:
        return [store_view(store) for store in catalog.list_stores(session)]


@blueprint.post("/api/stores/")
def create_store():
    authenticate(admin=True)
    body = parse(StoreIn, read_json())
    try:
        with sessions().begin() as session:
            view = store_view(catalog.create_store(session, body.code, body.name))
    except catalog.StoreTaken as error:
        raise ProblemError(409, "Conflict", str(error)) from None
    return view, 201


@blueprint.get("/api/products/")
def list_products():
    authenticate()
    with sessions()() as session:
        sku = request.args.get("sku")
        if sku is not None and "\x00" in sku:  # no sku holds NUL (PostgreSQL text cannot)
            return []
        return product_views(session, catalog.list_products(session, sku))


@blueprint.get("/api/products/<int:product_id>/")
def get_product(product_id: int):
    authenticate()
    with sessions()() as session:
        return product_views(session, [found(session, product_id)])[0]


def found(session, product_id: int) -> Product:
    product = catalog.get_product(session, product_id)
    if product is None:
        raise ProblemError(404, "Not Found", f"No product {product_id}.")
    return product


def product_views(session, products: list[Product]) -> list[dict]:
    stock = catalog.stock_by_store(session, [product.id for product in products])
    return [product_view(product, stock[product.id]) for product in products]


@blueprint.post("/api/products/")
def create_product():
    authenticate(admin=True)
    body = parse(ProductIn, read_json())
    try:
        with sessions().begin() as session:
            fields = body.model_dump(exclude={"stock", "stock_by_store"})
            product = catalog.create_product(session, body.opening_stock(), **fields)
            [view] = product_views(session, [product])
    except catalog.UnknownStore as error:
        raise invalid([{"field": "stock_by_store", "message": str(error)}]) from None
    except catalog.SkuTaken as error:
        raise ProblemError(409, "Conflict", str(error)) from None
    return view, 201, {"Location": f"/api/products/{view['id']}/"}


@blueprint.patch("/api/products/<int:product_id>/")
def update_product(product_id: int):
    authenticate(admin=True)
    body = parse(ProductPatchIn, read_json())
    with sessions().begin() as session:
        product = catalog.update_product(session, product_id, body.changes())
        if product is None:
            raise ProblemError(404, "Not Found", f"No product {product_id}.")
        return product_views(session, [product])[0]


@blueprint.post("/api/products/<int:product_id>/stock-adjustments/")
def adjust_stock(product_id: int):
    caller = authenticate(admin=True)
    body = parse(StockAdjustmentIn, read_json())
    try:
        with sessions().begin() as session:
            product = catalog.adjust_stock(session, product_id, body.quantity, body.reason, caller.device, body.store)
            if product is None:
                raise ProblemError(404, "Not Found", f"No product {product_id}.")
            return product_views(session, [product])[0], 201
    except catalog.UnknownStore as error:
        raise invalid([{"field": "store", "message": str(error)}]) from None


@blueprint.get("/api/alerts/")
def list_alerts():
    authenticate()
    status = request.args.get("status")
    if status not in (None, "open", "resolved"):
        raise ProblemError(
            400,
            "Invalid request",
            "status must be 'open' or 'resolved'.",
            [{"field": "status", "message": "must be 'open' or 'resolved'"}],
        )
    store = request.args.get("store")
    with sessions()() as session:
        if store is not None:
            known_store(session, store)
        return [alert_view(alert) for alert in catalog.list_alerts(session, status, store)]


def known_store(session, code: str) -> None:
    """404 unless `code` names a store (a query parameter's store, as analytics takes it too)."""
    try:
        catalog.check_stores(session, ["" if "\x00" in code else code])
    except catalog.UnknownStore:
        raise ProblemError(404, "Not Found", f"No store {code!r}.") from None
