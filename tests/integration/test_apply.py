"""The batch apply against a real PostgreSQL: rules, idempotence, isolation of rejected sales, races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from postgres import catalog
from postgres.apply import apply_batch, apply_isolating
from postgres.tables import Product, RejectedSale, Sale, SaleItem, StockAlert
from tests.builders import add_product, line, new_product, sale, stock
from web.schemas import MAX_ITEMS, SaleIn

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def apply(sessions, *sales):
    return apply_isolating(sessions, list(sales), NOW)


def product(sessions, product_id) -> Product:
    with sessions() as session:
        return session.get(Product, product_id)


def count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_volatile_sale_records_exact_subtotals_and_sets_the_price_without_touching_stock(sessions):
    bread = add_product(sessions, "BREAD-WEIGHED", is_volatile=True, unit_price="1.20", stock="7")
    bread_sale = sale(line(bread, quantity="0.75", unit_price="1.50"))

    status = apply(sessions, bread_sale)[bread_sale["external_id"]]

    assert status["status"] == "applied"
    assert status["sale"]["total"] == "1.125"
    assert status["sale"]["items"] == [
        {"product": bread, "quantity": "0.75", "unit_price": "1.50", "subtotal": "1.125"}
    ]
    assert product(sessions, bread).unit_price == Decimal("1.50")
    assert stock(sessions, bread) == Decimal("7")


def test_an_offline_juice_sale_creates_the_product_deducts_stock_and_raises_an_alert(sessions):
    juice_sale = sale(line(quantity="50", unit_price="0.50", new=new_product("JUICE-1L", reorder_level="10")))

    status = apply(sessions, juice_sale)[juice_sale["external_id"]]

    with sessions() as session:
        juice = session.scalars(select(Product).where(Product.sku == "JUICE-1L")).one()
        alerts = session.scalars(select(StockAlert)).all()
    assert status["sale"]["total"] == "25.00"
    assert stock(sessions, juice.id) == stock(sessions, juice.id, "main") == Decimal("-50")
    assert juice.unit_price == Decimal("0.50")  # the price it was first sold at becomes its default
    assert [(a.product_id, a.store, a.stock, a.status) for a in alerts] == [(juice.id, "main", Decimal("-50"), "open")]


def test_applying_the_same_sale_again_changes_nothing(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="100")
    juice_sale = sale(line(juice, quantity="3"))

    first = apply(sessions, juice_sale)
    again = apply(sessions, juice_sale, juice_sale)

    assert again == first
    assert count(sessions, Sale) == 1
    assert count(sessions, SaleItem) == 1
    assert stock(sessions, juice) == Decimal("97")


def test_a_sale_for_an_unknown_product_is_rejected_alone_and_its_neighbours_apply(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="10")
    good, bad = sale(line(juice, quantity="2")), sale(line(9999), line(quantity="1", new=new_product("GHOST-1")))

    statuses = apply(sessions, good, bad)

    assert statuses[good["external_id"]]["status"] == "applied"
    assert statuses[bad["external_id"]] == {
        "status": "rejected",
        "device": "till-1",
        "received_at": bad["received_at"],
        "error": "product 9999 does not exist; send product_data to create it",
        "fingerprint": None,
    }
    assert stock(sessions, juice) == Decimal("8")
    with sessions() as session:
        assert session.scalar(select(Product.id).where(Product.sku == "GHOST-1")) is None  # changed nothing
        assert session.get(RejectedSale, bad["external_id"]).reason.startswith("product 9999")


def test_a_line_without_price_for_a_product_without_default_is_rejected(sessions):
    with sessions.begin() as session:
        mystery = catalog.create_product(
            session,
            {},
            sku="MYSTERY",
            name="Mystery",
            is_volatile=False,
            unit_price=None,
            reorder_level=Decimal(0),
        ).id
    unpriced = sale(line(mystery, unit_price=None))

    status = apply(sessions, unpriced)[unpriced["external_id"]]

    assert status["status"] == "rejected"
    assert "no default price" in status["error"]
    assert count(sessions, Sale) == 0


def test_a_late_offline_sale_does_not_overwrite_a_newer_volatile_price(sessions):
    bread = add_product(sessions, "BREAD-WEIGHED", is_volatile=True, unit_price="1.00")
    apply(sessions, sale(line(bread, unit_price="2.00"), minutes_later=60))
    apply(sessions, sale(line(bread, unit_price="1.50"), minutes_later=0))

    assert product(sessions, bread).unit_price == Decimal("2.00")


def test_only_one_alert_stays_open_however_many_sales_go_below_reorder(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="5", reorder_level="3")
    apply(sessions, sale(line(juice, quantity="3")))
    apply(sessions, sale(line(juice, quantity="3")), sale(line(juice, quantity="1")))

    with sessions() as session:
        alerts = session.scalars(select(StockAlert)).all()
    assert [(a.status, a.stock) for a in alerts] == [("open", Decimal("2"))]


def test_a_stock_adjustment_back_above_reorder_resolves_the_open_alert(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="1", reorder_level="3")
    with sessions.begin() as session:
        catalog.adjust_stock(session, juice, Decimal("5"), "delivery", "admin")

    assert stock(sessions, juice) == Decimal("6")
    with sessions() as session:
        assert [a.status for a in catalog.list_alerts(session, None)] == ["resolved"]


def race(*jobs):
    """Run jobs in threads released together; re-raise the first error."""
    barrier, errors = threading.Barrier(len(jobs)), []

    def run(job):
        barrier.wait()
        try:
            job()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]


def test_two_workers_applying_the_same_sale_at_once_apply_it_once(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="100")
    same = sale(line(juice, quantity="4"))
    for _ in range(5):
        race(lambda: apply(sessions, same), lambda: apply(sessions, same, sale(line(juice, quantity="1"))))

    assert stock(sessions, juice) == Decimal("100") - 4 - 5 * 1
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Sale.external_id == same["external_id"])) == 1


def test_two_sales_racing_on_one_products_stock_both_count(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="10")
    race(
        lambda: apply(sessions, sale(line(juice, quantity="2.5"))),
        lambda: apply(sessions, sale(line(juice, quantity="4"))),
    )

    assert stock(sessions, juice) == Decimal("3.5")


def test_two_devices_creating_the_same_sku_at_once_end_with_one_product(sessions):
    race(
        lambda: apply(sessions, sale(line(quantity="1", new=new_product("CROISSANT")), device="till-1")),
        lambda: apply(sessions, sale(line(quantity="2", new=new_product("CROISSANT")), device="till-2")),
    )

    with sessions() as session:
        croissants = session.scalars(select(Product).where(Product.sku == "CROISSANT")).all()
    assert [stock(sessions, p.id) for p in croissants] == [Decimal("-3")]


def test_batches_touching_the_same_products_in_opposite_orders_do_not_deadlock(sessions):
    ids = [add_product(sessions, f"HOT-{n}", stock="1000") for n in range(4)]
    forward = [sale(*(line(i) for i in ids)) for _ in range(20)]
    backward = [sale(*(line(i) for i in reversed(ids))) for _ in range(20)]
    race(lambda: apply(sessions, *forward), lambda: apply(sessions, *backward))

    assert [stock(sessions, i) for i in ids] == [Decimal("960")] * 4


@pytest.mark.parametrize("batch_size", [1, 100])
def test_a_batch_is_one_transaction_that_applies_every_sale(sessions, batch_size):
    juice = add_product(sessions, "JUICE-1L", stock="0")
    statuses = apply(sessions, *(sale(line(juice, quantity="1")) for _ in range(batch_size)))

    assert [s["status"] for s in statuses.values()] == ["applied"] * batch_size
    assert stock(sessions, juice) == -batch_size


def test_apply_batch_leaves_committing_to_its_caller(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="10")
    with sessions() as session:
        apply_batch(session, [sale(line(juice))], NOW)
        session.rollback()

    assert stock(sessions, juice) == Decimal("10")


def test_a_sale_the_database_refuses_is_rejected_alone_with_a_reason_and_no_sql(sessions):
    edge = "-" + "9" * 35  # at the edge of the stock column: no history of accepted sales gets here
    juice = add_product(sessions, "JUICE-1L", stock=edge)
    bread = add_product(sessions, "BREAD-WEIGHED", stock="10")
    poison = sale(line(juice, quantity="999999"))
    good = [sale(line(bread, quantity="1")) for _ in range(3)]

    statuses = apply(sessions, good[0], poison, *good[1:])

    assert [statuses[g["external_id"]]["status"] for g in good] == ["applied"] * 3
    assert statuses[poison["external_id"]]["status"] == "rejected"
    assert statuses[poison["external_id"]]["error"].startswith("could not be applied: NumericValueOutOfRange")
    assert "UPDATE" not in statuses[poison["external_id"]]["error"]
    assert stock(sessions, bread) == Decimal("7")
    assert stock(sessions, juice) == Decimal(edge)


def test_no_history_of_accepted_sales_can_make_a_product_unsellable(sessions):
    """The largest sale intake accepts moves stock by MAX_ITEMS x 999,999.999 (< 5 * 10^8); the
    stock column holds 35 digits before the point. A stock of -10^30 is already farther than
    2 * 10^21 of the largest sales could take it, and there the largest sale still applies."""
    largest = SaleIn.model_validate({"items": [{"product": 1, "quantity": "999999.999"}] * MAX_ITEMS})
    assert len(largest.items) == MAX_ITEMS  # accepted by intake as it stands
    with pytest.raises(ValidationError):  # and nothing larger is
        SaleIn.model_validate({"items": [{"product": 1, "quantity": "1000000"}]})
    far = -(Decimal(10) ** 30)
    juice = add_product(sessions, "JUICE-1L", stock=str(far), reorder_level="10")

    statuses = apply(sessions, sale(*[line(juice, quantity=str(item.quantity)) for item in largest.items]))

    assert {status["status"] for status in statuses.values()} == {"applied"}
    assert stock(sessions, juice) == Decimal("-1000000000000000000000499999999.500")  # exact
