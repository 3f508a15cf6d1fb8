"""GET /api/sales/analytics/: how much of a product (or of everything) sold, from the rollup."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, request

from domain.analytics import ReportError, SalesReport, average_price, check_range, report
from domain.money import format_amount, format_quantity
from postgres import rollup
from postgres.statuses import timestamp
from postgres.tables import Product
from web.auth import authenticate
from web.catalog import known_store, product_views
from web.problems import ProblemError, invalid

blueprint = Blueprint("analytics", __name__)
DEFAULT_DAYS = 30
MAX_TOP = 100


@blueprint.get("/api/sales/analytics/")
def sales_analytics():
    authenticate()
    res = current_app.extensions["salesync"]
    query = parse_query(request.args, datetime.now(ZoneInfo(res.settings.timezone)).date())
    start, end, period, product_id, limit = query
    store = request.args.get("store")  # all stores when absent
    with res.sessions() as session:
        if store is not None:
            known_store(session, store)
        product = None
        if product_id is not None:
            product = session.get(Product, product_id)
            if product is None:
                raise ProblemError(404, "Not Found", f"No product {product_id}.")
        days = rollup.daily_totals(session, start, end, product_id, store)
        body = {
            "product": product and product_views(session, [product])[0],
            "period": period,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            **totals(report(days, start, end, period)),
        }
        if store is not None:
            body["store"] = store
        if product_id is None:
            top = rollup.top_products(session, start, end, limit, store)
            views = product_views(session, [p for p, _, _ in top])
            body["products"] = [{"product": view, **figures(q, r)} for view, (_, q, r) in zip(views, top)]
        body["as_of"] = timestamp(rollup.as_of(session))
    return body


def parse_query(args, today: date) -> tuple[date, date, str, int | None, int]:
    errors = []

    def read(name, parse, default):
        raw = args.get(name)
        if raw in (None, ""):
            return default
        try:
            return parse(raw)
        except ValueError as error:
            errors.append({"field": name, "message": str(error)})
            return default

    end = read("end_date", _date, today)
    start = read("start_date", _date, end - timedelta(days=DEFAULT_DAYS - 1))
    period = args.get("period") or "daily"
    product_id = read("product_id", _positive, None)
    limit = min(read("limit", _positive, 10), MAX_TOP)
    if errors:
        raise invalid(errors)
    try:
        check_range(start, end, period)
    except ReportError as error:
        field = "period" if "period" in str(error) else "end_date"
        raise invalid([{"field": field, "message": str(error)}]) from None
    return start, end, period, product_id, limit


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a date as YYYY-MM-DD") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError("must be a positive whole number")
    return int(text)


def figures(quantity, revenue) -> dict:
    average = average_price(quantity, revenue)
    return {
        "total_quantity_sold": format_quantity(quantity),
        "total_revenue": format_amount(revenue),
        "average_unit_price": None if average is None else format_amount(average),
    }


def totals(result: SalesReport) -> dict:
    return {
        **figures(result.quantity, result.revenue),
        "period_breakdown": [
            {"date": b.start.isoformat(), "quantity": format_quantity(b.quantity), "revenue": format_amount(b.revenue)}
            for b in result.buckets
        ],
    }
