"""The simulator's workload and retry policy, without a server."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cli import simulate
from cli.fleet import Mix, make_catalog, plan_fleet
from cli.tills import backoff
from web.schemas import SaleIn


def planned(retry_share=0.1, invalid_share=0.05, devices=20, per_device=20, mix=None):
    mix = mix or Mix()
    catalog = make_catalog("run1", mix)
    for number, product in enumerate(p for p in catalog.products if not p.inline):
        product.id = number + 1
    tokens = {f"sim-run1-{n}": f"token-{n}" for n in range(devices)}
    return catalog, plan_fleet(random.Random(3), tokens, per_device, catalog, retry_share, invalid_share)


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


def test_backoff_waits_at_least_retry_after():
    busy = SimpleNamespace(headers={"Retry-After": "5"})

    assert min(backoff(1, busy) for _ in range(50)) >= 5
    assert max(backoff(3, None) for _ in range(50)) <= 0.8
