"""The price table: complete, dated, sourced, and honest about what was not re-checked."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from k2.cost.prices import MSK_BROKER_HOURLY, PRICES, PRICES_DATE, msk_broker_price
from k2.deployment.config import MskProvisionedSize

pytestmark = pytest.mark.unit


def test_every_price_is_a_positive_decimal_with_a_unit_and_an_aws_page() -> None:
    entries = [price for _, price in PRICES.items()] + list(MSK_BROKER_HOURLY.values())
    assert len(entries) > 30
    for price in entries:
        assert isinstance(price.usd, Decimal)
        assert price.usd > 0
        assert price.unit and price.description
        assert price.source.startswith("https://aws.amazon.com/")


def test_a_price_is_marked_checked_only_with_what_it_was_checked_against() -> None:
    for _, price in PRICES.items():
        assert price.checked == bool(price.checked_against)
    assert any(not price.checked for _, price in PRICES.items())


def test_prices_are_dated_and_not_from_the_future() -> None:
    assert date(2026, 1, 1) <= PRICES_DATE <= date.today()


def test_the_default_provisioned_broker_has_a_price() -> None:
    default = MskProvisionedSize().broker_instance_type
    assert msk_broker_price(default) is MSK_BROKER_HOURLY[default]
    with pytest.raises(ValueError, match="known: "):
        msk_broker_price("kafka.none")


def test_glue_bills_dpu_hours_and_fargate_is_x86() -> None:
    assert PRICES.glue_dpu_hour.unit == "DPU-hour"
    assert "1-minute minimum" in PRICES.glue_dpu_hour.description
    assert "x86" in PRICES.fargate_vcpu_hour.description
