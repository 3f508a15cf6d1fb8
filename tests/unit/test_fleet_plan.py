"""The simulator's workload and retry policy, without a server."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

from cli.fleet import make_catalog, plan_fleet
from cli.tills import backoff
from web.schemas import SaleIn


def planned(retry_share=0.1, invalid_share=0.05, devices=20, per_device=20):
    catalog = make_catalog("run1", hot=5)
    for number, product in enumerate(p for p in catalog.products if not p.inline):
        product.id = number + 1
    tokens = {f"sim-run1-{n}": f"token-{n}" for n in range(devices)}
    return catalog, plan_fleet(random.Random(3), tokens, per_device, catalog, retry_share, invalid_share)


def test_shares_of_invalid_and_re_sent_sales_are_exact_and_only_valid_sales_are_re_sent():
    _, devices = planned()
    sales = [sale for device in devices for sale in device.sales]

    assert len(sales) == 400
    assert sum(sale.invalid for sale in sales) == 20
    assert [len(device.resend) for device in devices] == [round(0.1 * sum(not s.invalid for s in d.sales))
                                                          for d in devices]
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
    assert latest < datetime.now(timezone.utc)


def test_every_product_of_a_run_carries_its_run_id_and_tracked_sales_add_up():
    catalog, devices = planned(invalid_share=0)
    tracked = {p.sku for p in catalog.products if not p.is_volatile}
    sold = [(sku, quantity) for device in devices for sale in device.sales for sku, quantity in sale.sold.items()]

    assert all(product.sku.startswith("SIM-run1-") for product in catalog.products)
    assert {sku for sku, _ in sold} <= tracked
    assert all(quantity > 0 for _, quantity in sold)
    assert any(line.get("product_data") for d in devices for s in d.sales for line in s.body["items"])
    assert sum(sale.total for device in devices for sale in device.sales) > Decimal(0)


def test_backoff_waits_at_least_retry_after():
    busy = SimpleNamespace(headers={"Retry-After": "5"})

    assert min(backoff(1, busy) for _ in range(50)) >= 5
    assert max(backoff(3, None) for _ in range(50)) <= 0.8
