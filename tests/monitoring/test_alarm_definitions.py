"""The alarms: thresholds from the deployment config, silence as a failure where it is one, and
only definitions CloudWatch can evaluate."""

from __future__ import annotations

from pathlib import Path

import pytest

from k2.deployment.config import AlarmThresholds, Engine, load_deployment_config
from k2.domain.markets import Exchange
from k2.monitoring import metrics as m
from k2.monitoring.alarms import (
    DESCRIPTION_LIMIT,
    AlarmSpec,
    Comparison,
    MissingData,
    job_failure_rule,
    platform_alarms,
)
from k2.monitoring.coverage import referenced_metrics, uncatalogued
from k2.monitoring.metrics import Resource
from k2.monitoring.queries import MathQuery, MetricQuery, SearchQuery, Statistic
from k2.monitoring.reference import alarm_table

pytestmark = pytest.mark.unit

DOC = Path(__file__).parents[2] / "docs" / "monitoring.md"
ONE_DAY_S = 24 * 3600


def by_name(alarms: tuple[AlarmSpec, ...]) -> dict[str, AlarmSpec]:
    named = {alarm.name_suffix: alarm for alarm in alarms}
    assert len(named) == len(alarms)
    return named


def single(alarm: AlarmSpec) -> MetricQuery:
    assert isinstance(alarm.metric, MetricQuery)
    return alarm.metric


def test_the_required_alarms_exist() -> None:
    alarms = by_name(platform_alarms(AlarmThresholds()))
    assert set(alarms) == {
        "freshness-binance",
        "freshness-kraken",
        "dlq-rate",
        "gaps-binance",
        "gaps-kraken",
        "spark-job-failed",
        "api-5xx",
        "api-p99",
        "no-data-binance",
        "no-data-kraken",
    }
    assert uncatalogued((), alarms.values()) == []


def test_thresholds_follow_the_config() -> None:
    thresholds = AlarmThresholds(
        freshness_seconds=901,
        dlq_records_per_5min=17,
        api_p99_ms=2_345,
        api_5xx_per_5min=9,
        gaps_per_hour=3,
    )
    alarms = by_name(platform_alarms(thresholds))
    assert alarms["freshness-kraken"].threshold == 901
    assert alarms["dlq-rate"].threshold == 17
    assert alarms["api-p99"].threshold == 2_345
    assert alarms["api-5xx"].threshold == 9
    assert alarms["gaps-binance"].threshold == 3
    assert "901 s" in alarms["freshness-kraken"].description


def test_a_cdk_context_override_reaches_the_alarm() -> None:
    config = load_deployment_config({"k2:alarms.freshness_seconds": "600"})
    alarms = by_name(platform_alarms(config.alarms, config.exchanges))
    assert alarms["freshness-binance"].threshold == 600
    assert alarms["api-5xx"].threshold == AlarmThresholds().api_5xx_per_5min


def test_silence_is_breaching_where_silence_is_the_failure() -> None:
    alarms = by_name(platform_alarms(AlarmThresholds()))
    for exchange in Exchange:
        no_data = alarms[f"no-data-{exchange.value}"]
        query = single(no_data)
        assert query.metric == m.TRADES_PUBLISHED
        assert dict(query.values) == {"exchange": exchange.value}
        assert query.statistic is Statistic.SUM
        assert no_data.comparison is Comparison.LESS_THAN_THRESHOLD and no_data.threshold == 1
        assert no_data.missing_data is MissingData.BREACHING
        assert alarms[f"freshness-{exchange.value}"].missing_data is MissingData.BREACHING
    # Counts of bad things are zero when nothing happens.
    for name in ("dlq-rate", "spark-job-failed", "api-5xx", "api-p99", "gaps-binance"):
        assert alarms[name].missing_data is MissingData.NOT_BREACHING, name


def test_the_statistics_and_metrics_chosen() -> None:
    alarms = by_name(platform_alarms(AlarmThresholds()))
    freshness = single(alarms["freshness-binance"])
    assert (freshness.metric, freshness.statistic) == (m.GOLD_TRADE_AGE, Statistic.MAXIMUM)
    latency = single(alarms["api-p99"])
    assert (latency.metric, latency.statistic) == (m.GATEWAY_LATENCY, Statistic.P99)
    errors = single(alarms["api-5xx"])
    assert (errors.metric, errors.statistic) == (m.GATEWAY_5XX, Statistic.SUM)
    failures = single(alarms["spark-job-failed"])
    assert failures.metric == m.JOB_FAILURE_EVENTS
    gaps = single(alarms["gaps-kraken"])
    assert (gaps.metric, gaps.period_s) == (m.UNFILLED_TRADE_IDS, 3600)
    dlq = alarms["dlq-rate"].metric
    assert isinstance(dlq, MathQuery)
    assert {query.metric for _, query in dlq.using} == {m.DEAD_LETTERS, m.SILVER_DEAD_LETTERS}


def test_alarms_are_what_cloudwatch_can_evaluate() -> None:
    for alarm in platform_alarms(AlarmThresholds()):
        queries = alarm.metric.using if isinstance(alarm.metric, MathQuery) else ()
        assert not any(isinstance(query, SearchQuery) for _, query in queries)
        assert alarm.period_s * alarm.evaluation_periods <= ONE_DAY_S
        assert 1 <= alarm.datapoints_to_alarm <= alarm.evaluation_periods
        assert len(alarm.description) <= DESCRIPTION_LIMIT
        assert "What to do:" in alarm.description
    with pytest.raises(ValueError, match="SEARCH"):
        AlarmSpec(
            "bad",
            MathQuery("SUM(s)", (("s", SearchQuery(m.FRAMES, Statistic.SUM)),), "s"),
            1,
            1,
            Comparison.GREATER_THAN_THRESHOLD,
            1,
            MissingData.NOT_BREACHING,
            "x",
            "y",
        )


def test_per_exchange_alarms_follow_the_configured_exchanges() -> None:
    alarms = by_name(platform_alarms(AlarmThresholds(), (Exchange.KRAKEN,)))
    assert "no-data-binance" not in alarms and "no-data-kraken" in alarms
    dlq = alarms["dlq-rate"].metric
    assert isinstance(dlq, MathQuery)
    assert [query_id for query_id, _ in dlq.using] == ["feed_kraken", "silver_kraken"]
    assert dlq.expression == "SUM(FILL([feed_kraken, silver_kraken], 0))"


def test_no_alarm_waits_for_an_emitter() -> None:
    """Every metric an alarm reads is written by some code (or by AWS)."""
    read = referenced_metrics((), platform_alarms(AlarmThresholds()))
    assert {spec.name for spec in read if not spec.emitted} == set()


def test_the_job_failure_rule_matches_failed_runs() -> None:
    glue = job_failure_rule(Engine.GLUE, glue_job_prefix="k2-dev-")
    assert glue.resource is Resource.JOB_FAILURE_RULE
    pattern = glue.pattern()
    assert pattern["source"] == ["aws.glue"]
    assert pattern["detail-type"] == ["Glue Job State Change"]
    assert set(pattern["detail"]["state"]) == {"FAILED", "TIMEOUT", "ERROR"}
    assert pattern["detail"]["jobName"] == [{"prefix": "k2-dev-"}]
    emr = job_failure_rule(Engine.EMR_SERVERLESS, glue_job_prefix="", emr_application_id="app")
    assert emr.pattern()["detail"] == {"state": ["FAILED"], "applicationId": ["app"]}
    with pytest.raises(ValueError, match="application id"):
        job_failure_rule(Engine.EMR_SERVERLESS, glue_job_prefix="k2-dev-")


def test_the_document_carries_the_current_alarm_table() -> None:
    table = alarm_table(platform_alarms(AlarmThresholds()))
    assert table in DOC.read_text(encoding="utf-8")
