"""The analytics rollup against a real PostgreSQL: incremental, late sales, commit order, overlap, zones."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import text

from postgres import catalog, rollup
from postgres.apply import apply_batch, apply_isolating
from tests.builders import auth, issue_tokens, line, sale
from web.app import create_app

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
JAN = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def add_product(sessions, sku, price="2.00") -> int:
    with sessions.begin() as session:
        return catalog.create_product(
            session,
            {},
            sku=sku,
            name=sku.title(),
            is_volatile=False,
            unit_price=Decimal(price),
            reorder_level=Decimal(0),
        ).id


def refresh(sessions, tz="UTC") -> rollup.Refreshed:
    with sessions.begin() as session:
        return rollup.refresh(session, tz)


def sold(sessions, product_id, day: date) -> Decimal:
    with sessions() as session:
        return sum((t.quantity for t in rollup.daily_totals(session, day, day, product_id)), Decimal(0))


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def test_a_late_sale_restates_its_own_day_and_only_that_day(sessions):
    juice = add_product(sessions, "JUICE-1L")
    apply_isolating(sessions, [sale(line(juice, quantity=str(n)), at=at(n)) for n in range(1, 29)], NOW)
    assert refresh(sessions).rebuilt

    apply_isolating(sessions, [sale(line(juice, quantity="5"), at=at(3))], NOW)
    second = refresh(sessions)

    assert (second.rebuilt, second.days_restated) == (False, 1)
    assert sold(sessions, juice, date(2026, 1, 3)) == Decimal("8")
    assert refresh(sessions).days_restated == 0


def test_a_sale_committed_after_a_later_one_is_not_missed(sessions):
    juice, bread = add_product(sessions, "JUICE-1L"), add_product(sessions, "BREAD-WEIGHED")
    refresh(sessions)
    slow = sessions()
    slow.begin()
    apply_batch(slow, [sale(line(juice, quantity="1"), at=at(5))], NOW)  # applied first, commits last
    apply_isolating(sessions, [sale(line(bread, quantity="2"), at=at(5))], NOW)
    refresh(sessions)
    assert (sold(sessions, juice, date(2026, 1, 5)), sold(sessions, bread, date(2026, 1, 5))) == (0, 2)
    slow.commit()
    slow.close()
    refresh(sessions)

    assert (sold(sessions, juice, date(2026, 1, 5)), sold(sessions, bread, date(2026, 1, 5))) == (1, 2)


def test_overlapping_refreshes_never_count_a_sale_twice(sessions):
    juice = add_product(sessions, "JUICE-1L")
    refresh(sessions)
    apply_isolating(sessions, [sale(line(juice, quantity="1"), at=at(n % 28 + 1)) for n in range(200)], NOW)
    barrier = threading.Barrier(3)

    def run():
        barrier.wait()
        refresh(sessions)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    with sessions() as session:
        days = rollup.daily_totals(session, date(2026, 1, 1), date(2026, 1, 31), juice)
    assert sum(d.quantity for d in days) == 200


def test_changing_the_reporting_zone_rebuilds_the_days(sessions):
    juice = add_product(sessions, "JUICE-1L")
    apply_isolating(sessions, [sale(line(juice, quantity="1"), at=at(10, hour=23))], NOW)
    refresh(sessions, "UTC")
    assert sold(sessions, juice, date(2026, 1, 10)) == 1

    assert refresh(sessions, "Asia/Tokyo").rebuilt
    assert sold(sessions, juice, date(2026, 1, 11)) == 1  # 23:00 UTC is the next morning in Tokyo
    assert sold(sessions, juice, date(2026, 1, 10)) == 0


@pytest.fixture
def analytics(settings, sessions, redis_client):
    """GET the analytics endpoint for a given reporting zone, as a device would."""
    token = issue_tokens(sessions, redis_client, settings.redis_prefix, "till-analytics")["till-analytics"]
    clients = {}

    def get(tz="UTC", **params):
        client = clients.setdefault(tz, create_app(settings.model_copy(update=dict(timezone=tz))).test_client())
        return client.get("/api/sales/analytics/", query_string=params, headers=auth(token))

    return get


def test_the_endpoint_answers_the_cards_weekly_query(sessions, analytics):
    bread = add_product(sessions, "BREAD-WEIGHED")
    apply_isolating(
        sessions,
        [
            sale(line(bread, quantity="10.5", unit_price="2.00"), at=at(27)),
            sale(line(bread, quantity="0.75", unit_price="1.50"), at=at(2)),
        ],
        NOW,
    )
    refresh(sessions)

    body = analytics(product_id=bread, start_date="2026-01-01", end_date="2026-01-31", period="weekly").json

    assert (body["total_quantity_sold"], body["total_revenue"], body["average_unit_price"]) == (
        "11.25",
        "22.125",
        "1.9667",
    )
    assert body["period_breakdown"][0] == {"date": "2026-01-01", "quantity": "0.75", "revenue": "1.125"}
    assert {"date": "2026-01-26", "quantity": "10.5", "revenue": "21.00"} in body["period_breakdown"]
    assert [b["date"] for b in body["period_breakdown"]] == [
        "2026-01-01",
        "2026-01-05",
        "2026-01-12",
        "2026-01-19",
        "2026-01-26",
    ]
    assert body["product"]["sku"] == "BREAD-WEIGHED"
    assert body["as_of"] is not None


def test_without_a_product_the_endpoint_ranks_top_sellers(sessions, analytics):
    bread, juice = add_product(sessions, "BREAD-WEIGHED"), add_product(sessions, "JUICE-1L")
    apply_isolating(
        sessions, [sale(line(bread, quantity="1", unit_price="1.00"), line(juice, quantity="3"), at=at(4))], NOW
    )
    refresh(sessions)

    body = analytics(start_date="2026-01-01", end_date="2026-01-31", period="monthly").json

    assert [p["product"]["sku"] for p in body["products"]] == ["JUICE-1L", "BREAD-WEIGHED"]
    assert body["total_revenue"] == "4.00"
    assert body["period_breakdown"] == [{"date": "2026-01-01", "quantity": "4", "revenue": "4.00"}]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "end_date"),
        ({"period": "hourly"}, "period"),
        ({"start_date": "2020-01-01", "end_date": "2026-01-01"}, "end_date"),
        ({"product_id": "five"}, "product_id"),
    ],
)
def test_bad_queries_are_400_with_the_field_named(sessions, analytics, params, field):
    response = analytics(**params)

    assert response.status_code == 400
    assert [e["field"] for e in response.json["errors"]] == [field]


def test_an_unknown_product_is_404(sessions, analytics):
    assert analytics(product_id=999999).status_code == 404


DIRECT = text("""
    SELECT GREATEST(date_trunc(:unit, si.sold_at AT TIME ZONE :tz)::date, CAST(:start AS date)) AS bucket,
           sum(si.quantity), sum(si.subtotal)
    FROM sale_items si
    WHERE (CAST(:product AS int) IS NULL OR si.product_id = :product)
      AND (si.sold_at AT TIME ZONE :tz)::date BETWEEN :start AND :end
    GROUP BY bucket ORDER BY bucket
""")
UNITS = {"daily": "day", "weekly": "week", "monthly": "month"}
ZONES = ["UTC", "Pacific/Auckland", "America/Los_Angeles", "Asia/Kolkata", "Europe/Lisbon"]

sales_strategy = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, 75 * 24 * 60),
        st.decimals("0.001", "50", places=3),
        st.decimals("0", "20", places=2),
    ),
    min_size=1,
    max_size=25,
)


@hsettings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    early=sales_strategy,
    late=sales_strategy,
    tz=st.sampled_from(ZONES),
    period=st.sampled_from(list(UNITS)),
    first=st.integers(0, 70),
    length=st.integers(1, 80),
    whole_shop=st.booleans(),
)
def test_after_a_refresh_the_endpoint_equals_a_direct_aggregation(
    sessions, analytics, early, late, tz, period, first, length, whole_shop
):
    with sessions.begin() as session:
        session.execute(
            text(
                "TRUNCATE sale_items, sales, rollup_pending, sales_daily, rollup_state, "
                "stock_alerts, products RESTART IDENTITY CASCADE"
            )
        )
    ids = [add_product(sessions, sku) for sku in ("BREAD-WEIGHED", "JUICE-1L", "CROISSANT")]

    def apply(batch):
        apply_isolating(
            sessions,
            [
                sale(line(ids[p], quantity=str(q), unit_price=str(u)), at=JAN + timedelta(minutes=m))
                for p, m, q, u in batch
            ],
            NOW,
        )

    apply(early)
    refresh(sessions, tz)
    apply(late)  # offline sales arriving after a refresh, dated anywhere in the window
    refresh(sessions, tz)

    start = date(2026, 1, 1) + timedelta(days=first)
    end = start + timedelta(days=length - 1)
    product = None if whole_shop else ids[0]
    body = analytics(
        tz,
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        period=period,
        **({} if product is None else {"product_id": product}),
    ).json
    with sessions() as session:
        direct = session.execute(
            DIRECT, {"unit": UNITS[period], "tz": tz, "start": start, "end": end, "product": product}
        ).all()

    shown = {b["date"]: (Decimal(b["quantity"]), Decimal(b["revenue"])) for b in body["period_breakdown"]}
    assert {d.isoformat(): (q, r) for d, q, r in direct} == {k: v for k, v in shown.items() if v != (0, 0)}
    assert Decimal(body["total_quantity_sold"]) == sum((q for _, q, _ in direct), Decimal(0))
    assert Decimal(body["total_revenue"]) == sum((r for _, _, r in direct), Decimal(0))
