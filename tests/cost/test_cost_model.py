"""The cost model against hand computations from the price table, and its scaling laws."""

from __future__ import annotations

from decimal import Decimal

import pytest

from k2.cost.model import (
    FEED_METRICS_PER_EXCHANGE,
    SECONDS_PER_MONTH,
    CostBreakdown,
    CostKind,
    LineItem,
    estimate,
)
from k2.cost.prices import PRICES, msk_broker_price
from k2.cost.workload import DEFAULT_WORKLOAD
from k2.deployment.config import (
    DeploymentConfig,
    Engine,
    FeedHandlerSize,
    MskMode,
    MskProvisionedSize,
)
from k2.domain.markets import Exchange

pytestmark = pytest.mark.unit

SMALL = DeploymentConfig(exchanges=(Exchange.BINANCE,), binance_symbols=("BTCUSDT",))


def _line(breakdown: CostBreakdown, service: str, item: str) -> LineItem:
    matches = [li for li in breakdown.line_items if li.service == service and li.item == item]
    assert len(matches) == 1, (service, item, [li.item for li in breakdown.line_items])
    return matches[0]


def _lines(breakdown: CostBreakdown) -> dict[tuple[str, str], Decimal]:
    return {(li.service, li.item): li.monthly_usd for li in breakdown.line_items}


def test_fargate_is_tasks_times_hours_times_vcpu_and_memory_prices() -> None:
    config = DeploymentConfig(
        exchanges=(Exchange.BINANCE,),
        binance_symbols=("BTCUSDT",),
        feed_handler=FeedHandlerSize(cpu=1024, memory_mib=3072),
    )
    breakdown = estimate(config, 1000)
    expected = (
        1
        * Decimal(730)
        * (Decimal(1) * PRICES.fargate_vcpu_hour.usd + Decimal(3) * PRICES.fargate_gb_hour.usd)
    )
    fargate = sum(
        (li.monthly_usd for li in breakdown.line_items if li.service.startswith("Fargate")),
        Decimal(0),
    )
    assert fargate == expected


def test_msk_serverless_fixed_lines_match_a_hand_count_of_partitions() -> None:
    breakdown = estimate(SMALL, 1000)
    # one exchange: trades and quotes raw topics of 6 partitions each, plus its DLQ of 1
    assert _line(breakdown, "MSK Serverless", "partition-hours").monthly_usd == (
        13 * Decimal(730) * PRICES.msk_serverless_partition_hour.usd
    )
    assert _line(breakdown, "MSK Serverless", "cluster-hours").monthly_usd == (
        Decimal(730) * PRICES.msk_serverless_cluster_hour.usd
    )


def test_glue_fixed_part_is_runs_times_workers_times_billed_minutes() -> None:
    breakdown = estimate(SMALL, 1000)
    runs = Decimal(730 * 60) / 15 * 2  # one exchange: a bronze job per data type
    dpu_hours = runs * 2 * DEFAULT_WORKLOAD.spark_fixed_minutes_per_run / 60
    line = _line(breakdown, "Glue", "bronze: fixed part of each run")
    assert line.monthly_usd == dpu_hours * PRICES.glue_dpu_hour.usd


def test_cost_per_million_is_monthly_over_messages_in_a_730_hour_month() -> None:
    breakdown = estimate(DeploymentConfig(), 2500)
    messages = Decimal(2500) * 730 * 3600
    assert SECONDS_PER_MONTH == 730 * 3600
    assert breakdown.usd_per_million_messages == breakdown.monthly_usd / (messages / 1_000_000)


def test_doubling_the_rate_keeps_fixed_lines_and_doubles_volume_lines() -> None:
    config = DeploymentConfig()
    low, high = estimate(config, 20_000), estimate(config, 40_000)
    for a, b in zip(low.line_items, high.line_items, strict=True):
        assert (a.service, a.item, a.kind) == (b.service, b.item, b.kind)
        if a.kind is CostKind.VOLUME:
            assert b.monthly_usd == pytest.approx(2 * a.monthly_usd, rel=Decimal("1e-20"))
        else:
            assert b.monthly_usd == a.monthly_usd
    assert high.total(CostKind.FIXED) == low.total(CostKind.FIXED)
    assert high.usd_per_million_messages < low.usd_per_million_messages


def test_switching_the_engine_changes_only_the_spark_lines() -> None:
    glue = estimate(DeploymentConfig(), 10_000)
    emr = estimate(DeploymentConfig(engine=Engine.EMR_SERVERLESS), 10_000)
    glue_lines, emr_lines = _lines(glue), _lines(emr)
    assert {s for s, _ in glue_lines} - {s for s, _ in emr_lines} == {"Glue"}
    assert {s for s, _ in emr_lines} - {s for s, _ in glue_lines} == {"EMR Serverless"}
    for key, value in glue_lines.items():
        if key[0] != "Glue":
            assert emr_lines[key] == value
    worker_hour = 4 * PRICES.emr_serverless_vcpu_hour.usd + 16 * PRICES.emr_serverless_gb_hour.usd
    ratio = worker_hour / PRICES.glue_dpu_hour.usd
    glue_spark = sum((v for (s, _), v in glue_lines.items() if s == "Glue"), Decimal(0))
    emr_spark = sum((v for (s, _), v in emr_lines.items() if s == "EMR Serverless"), Decimal(0))
    assert emr_spark == pytest.approx(glue_spark * ratio)


def test_switching_msk_to_provisioned_prices_brokers_and_storage_instead() -> None:
    config = DeploymentConfig(msk=MskMode.PROVISIONED)
    breakdown = estimate(config, 1000)
    services = {li.service for li in breakdown.line_items}
    assert "MSK Serverless" not in services
    brokers = msk_broker_price("kafka.m7g.large").usd * 3 * 730
    storage = PRICES.msk_provisioned_storage_gb_month.usd * 3 * 100
    msk = sum(
        (li.monthly_usd for li in breakdown.line_items if li.service == "MSK provisioned"),
        Decimal(0),
    )
    assert msk == brokers + storage
    serverless = _lines(estimate(DeploymentConfig(), 1000))
    others = {k: v for k, v in serverless.items() if "MSK" not in k[0]}
    assert {k: v for k, v in _lines(breakdown).items() if "MSK" not in k[0]} == others


def test_an_unknown_broker_type_is_a_clear_error() -> None:
    size = MskProvisionedSize(broker_instance_type="kafka.x9.huge")
    config = DeploymentConfig(msk=MskMode.PROVISIONED, msk_provisioned=size)
    with pytest.raises(ValueError, match=r"kafka\.x9\.huge"):
        estimate(config, 1000)


def test_a_rate_the_configured_resources_cannot_carry_is_flagged() -> None:
    assert estimate(DeploymentConfig(), 1000).notes == ()
    notes = estimate(DeploymentConfig(), 100_000).notes
    assert any(note.startswith("feed handler:") for note in notes)
    assert any(note.startswith("silver:") for note in notes)


def test_non_positive_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        estimate(DeploymentConfig(), 0)


def test_feed_metric_count_matches_what_the_reporter_emits() -> None:
    from k2.feeds.feed_metrics import _COUNTER_NAMES

    assert len(_COUNTER_NAMES) + 3 == FEED_METRICS_PER_EXCHANGE  # + LagP50, LagP99, QueueDepth


def test_kafka_bytes_come_from_the_real_encoder() -> None:
    from k2.cost.message_size import KAFKA_RECORD_OVERHEAD_BYTES, message_size
    from k2.domain.markets import DataType
    from k2.domain.schema_registry_wire import HEADER_LENGTH

    size = message_size(Exchange.BINANCE, DataType.TRADES)
    assert size.key_bytes == len(b"BTCUSDT")
    assert HEADER_LENGTH < size.value_bytes < 200
    assert size.kafka_bytes == size.key_bytes + size.value_bytes + KAFKA_RECORD_OVERHEAD_BYTES
