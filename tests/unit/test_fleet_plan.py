"""The simulator's workload and retry policy, without a server."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cli import simulate
from cli.fleet import Mix, assign_stores, make_catalog, plan_fleet, store_codes
from cli.tills import backoff
from web.schemas import ProductIn, SaleIn


def planned(
    retry_share=0.1, invalid_share=0.05, devices=20, per_device=20, mix=None, stores=1, return_share=0.0, seed=3
):
    mix = mix or Mix()
    catalog = make_catalog("run1", mix, store_codes(stores))
    for number, product in enumerate(p for p in catalog.products if not p.inline):
        product.id = number + 1
    tokens = {f"sim-run1-{n}": f"token-{n}" for n in range(devices)}
    homes = assign_stores(list(tokens), catalog.stores)
    return catalog, plan_fleet(
        random.Random(seed), tokens, per_device, catalog, retry_share, invalid_share, homes, return_share
    )


def test_shares_of_invalid_and_re_sent_sales_are_exact_and_only_valid_sales_are_re_sent():
    _, devices = planned()
    sales = [sale for device in devices for sale in device.sales]

    assert len(sales) == 400
    assert sum(sale.invalid for sale in sales) == 20
    assert [len(device.resend) for device in devices] == [
        round(0.1 * sum(not s.invalid for s in d.sales)) for d in devices
    ]
    assert not [sale for device in devices for sale in device.resend if sale.invalid or sale not in device.sales]


def test_valid_sales_pass_the_intake_rules_and_invalid_ones_fail_them():
    _, devices = planned()
    sales = [sale for device in devices for sale in device.sales]

    def valid(sale):
        try:
            SaleIn.model_validate(sale.body)
            return True
        except ValueError:
            return False

    assert [valid(sale) for sale in sales] == [not sale.invalid for sale in sales]
    assert len({sale.external_id for sale in sales}) == len(sales)
    latest = max(SaleIn.model_validate(sale.body).client_timestamp for sale in sales if not sale.invalid)
    assert latest < datetime.now(UTC)


def test_every_product_of_a_run_carries_its_run_id_and_tracked_sales_add_up():
    catalog, devices = planned(invalid_share=0)
    tracked = {p.sku for p in catalog.products if not p.is_volatile}
    sold = [(sku, quantity) for device in devices for sale in device.sales for sku, quantity in sale.sold.items()]

    assert all(product.sku.startswith("SIM-run1-") for product in catalog.products)
    assert {sku for sku, _ in sold} <= tracked
    assert all(quantity > 0 for _, quantity in sold)
    assert any(line.get("product_data") for d in devices for s in d.sales for line in s.body["items"])
    assert sum(sale.total for device in devices for sale in device.sales) > Decimal(0)


def line_kinds(catalog, devices) -> Counter:
    kind = {
        **{p.id: "hot" for p in catalog.hot},
        **{p.id: "volatile" for p in catalog.volatile},
        **{p.id: "tracked" for p in catalog.tracked},
    }
    return Counter(
        "inline" if "product_data" in line else kind[line["product"]]
        for device in devices
        for sale in device.sales
        for line in sale.body["items"]
    )


def test_the_product_mix_sets_how_many_products_of_each_kind_and_their_shares_of_lines():
    mix = Mix(hot_products=2, hot_share=0.5, volatile_products=3, volatile_share=0.3, inline_products=0, inline_share=0)
    catalog, devices = planned(invalid_share=0, mix=mix)
    kinds = line_kinds(catalog, devices)
    lines = sum(kinds.values())

    assert (len(catalog.hot), len(catalog.volatile), len(catalog.inline)) == (2, 3, 0)
    assert kinds["inline"] == 0
    assert 0.45 < kinds["hot"] / lines < 0.55 and 0.25 < kinds["volatile"] / lines < 0.35
    assert 0.15 < kinds["tracked"] / lines < 0.25  # the lines left over


def test_the_default_mix_sells_every_kind_of_product():
    kinds = line_kinds(*planned(invalid_share=0))

    assert set(kinds) == {"hot", "volatile", "inline", "tracked"}


@pytest.mark.parametrize(
    "options, problem",
    [
        (["--hot-share", "0.6", "--volatile-share", "0.5"], "add up to more than 1"),
        (["--inline-products", "0"], "--inline-share is above 0 with no inline products"),
        (["--volatile-products", "0", "--volatile-share", "0"], None),
        (["--hot-share", "0.2", "--volatile-share", "0.7", "--inline-share", "0.1"], None),
    ],
)
def test_simulate_refuses_a_product_mix_it_cannot_draw_from(options, problem):
    problems = simulate.mix_of(simulate.parser().parse_args(options)).problems()

    assert problems == [] if problem is None else any(problem in text for text in problems)


def test_simulate_help_shows_the_defaults():
    text = simulate.parser().format_help()

    assert "(default: 20)" in text and "--hot-share" in text and "(default: 0.2)" in text


def test_tills_are_spread_evenly_over_main_and_the_stores_s1_onwards_and_their_sales_are_theirs():
    catalog, devices = planned(devices=7, stores=3)

    assert store_codes(1) == ["main"] and catalog.stores == store_codes(3) == ["main", "S1", "S2"]
    assert Counter(device.store for device in devices) == {"main": 3, "S1": 2, "S2": 2}
    assert all(sale.store == device.store for device in devices for sale in device.sales)


def test_one_store_and_no_returns_plan_what_the_simulator_always_did():
    catalog, devices = planned(stores=1, return_share=0)
    tokens = {device.name: device.token for device in devices}
    before = plan_fleet(random.Random(3), tokens, 20, catalog, 0.1, 0.05)  # as called before stores

    def shape(devices):  # all but the fresh external_ids and times
        return [([s.body["items"] for s in d.sales], [d.sales.index(s) for s in d.resend], d.store) for d in devices]

    sales = [sale for device in devices for sale in device.sales]
    assert shape(devices) == shape(before)
    assert not [sale for sale in sales if sale.is_return or "kind" in sale.body or sale.returned]
    assert {sale.store for sale in sales} == {"main"}


def test_products_open_with_their_stock_in_every_store_of_the_run():
    catalog, _ = planned(stores=3)
    hot = catalog.hot[0]

    one_store = ProductIn.model_validate(hot.create_body())
    every_store = ProductIn.model_validate(hot.create_body(catalog.stores))

    assert one_store.opening_stock() == {"main": Decimal(1000)}
    assert every_store.opening_stock() == {"main": Decimal(1000), "S1": Decimal(1000), "S2": Decimal(1000)}
    assert catalog.opening()[hot.sku, "S2"] == Decimal(1000)
    assert catalog.opening()[catalog.inline[0].sku, "S1"] == Decimal(0)
    assert not [sku for sku, _ in catalog.opening() if sku in {p.sku for p in catalog.volatile}]


def returns_and_originals(devices):
    for device in devices:
        for index, sale in enumerate(device.sales):
            if sale.is_return:
                yield device, index, sale


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_returns_are_their_share_of_each_till_and_follow_an_earlier_valid_sale_of_the_till(seed):
    _, devices = planned(devices=10, return_share=0.2, stores=2, seed=seed)

    assert [len(device.sales) for device in devices] == [20] * 10
    assert [sum(sale.is_return for sale in device.sales) for device in devices] == [4] * 10
    for device, index, back in returns_and_originals(devices):
        earlier = {sale.external_id: sale for sale in device.sales[:index]}
        original = earlier[back.body["original_external_id"]]
        assert not original.invalid and not original.is_return and not back.invalid
        assert back.store == original.store == device.store
        assert back.body["client_timestamp"] >= original.body["client_timestamp"]
        SaleIn.model_validate(back.body)  # a valid return: lines name products by id, with a price


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_returns_never_bring_back_more_of_a_product_than_their_original_sold(seed):
    catalog, devices = planned(devices=10, per_device=30, return_share=0.5, seed=seed)
    by_id = {product.id: product for product in catalog.products}
    sold: dict[tuple[str, int], Decimal] = {}
    back: dict[tuple[str, int], Decimal] = {}
    for device in devices:
        for sale in device.sales:
            for item in sale.body["items"]:
                if sale.is_return:
                    key = (sale.body["original_external_id"], item["product"])
                    back[key] = back.get(key, Decimal(0)) + Decimal(item["quantity"])
                elif "product" in item and not sale.invalid:
                    key = (sale.external_id, item["product"])
                    sold[key] = sold.get(key, Decimal(0)) + Decimal(item["quantity"])

    assert back and all(quantity <= sold.get(key, Decimal(0)) for key, quantity in back.items())
    assert any(quantity < sold[key] for key, quantity in back.items())  # some returns are partial
    for _, _, sale in returns_and_originals(devices):
        lines = [(by_id[i["product"]], Decimal(i["quantity"]), Decimal(i["unit_price"])) for i in sale.body["items"]]
        assert sale.total == sum(quantity * price for _, quantity, price in lines)
        assert sale.returned == {p.sku: quantity for p, quantity, _ in lines if not p.is_volatile}
        assert sale.sold == {}


def test_a_till_of_one_sale_returns_nothing_and_re_sent_returns_are_its_own():
    _, single = planned(per_device=1, return_share=1)
    _, devices = planned(devices=5, return_share=0.3, retry_share=0.5)

    assert not [sale for device in single for sale in device.sales if sale.is_return]
    assert all(sale in device.sales and not sale.invalid for device in devices for sale in device.resend)
    assert any(sale.is_return for device in devices for sale in device.resend)


@pytest.mark.parametrize("options", [["--stores", "0"], ["--return-share", "1.5"], ["--return-share", "-0.1"]])
def test_simulate_refuses_stores_below_one_and_a_return_share_outside_0_to_1(options, capsys):
    with pytest.raises(SystemExit) as refused:
        simulate.parser().parse_args(options)

    assert refused.value.code == 2
    assert options[0] in capsys.readouterr().err


def test_simulate_defaults_to_one_store_and_no_returns():
    args = simulate.parser().parse_args([])

    assert (args.stores, args.return_share) == (1, 0.0)


def test_backoff_waits_at_least_retry_after():
    busy = SimpleNamespace(headers={"Retry-After": "5"})

    assert min(backoff(1, busy) for _ in range(50)) >= 5
    assert max(backoff(3, None) for _ in range(50)) <= 0.8
