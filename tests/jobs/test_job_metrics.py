"""The jobs' metrics from batch facts, without Spark: progress documents in, datums out, and the
EMF documents they print checked against the metric catalog (never a copied list).

The progress documents are Spark 3.5.6's, recorded from bronze, silver-DLQ and gold runs on the
test cloud; offsets, rows and observed counts are edited per test so the expected values can be
worked out by hand.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from k2.domain.markets import Exchange
from k2.domain.validation import REASON_CODES, ReasonClass, ReasonCode
from k2.jobs.job_metrics import (
    DEAD_LETTER_REASONS,
    DEAD_LETTER_ROWS,
    DEAD_LETTERS_OBSERVED,
    CommittedSnapshot,
    Job,
    MetricDatum,
    QueryTarget,
    added_records,
    emf_documents,
    merge_datums,
    progress_datums,
    progress_timestamp_ms,
    reason_column,
    records_behind,
)
from k2.jobs.job_metrics_listener import JobMetricsListener, publish
from k2.monitoring import metrics as m
from k2.monitoring.metrics import Component, MetricSpec

pytestmark = pytest.mark.unit

TOPIC = "market.crypto.trades.binance.raw"

BRONZE_PROGRESS: dict[str, Any] = {
    "id": "a5e0f78f-7048-48d4-8a7a-17bf966ef692",
    "runId": "3e7352cd-7953-4894-bad3-77cfedde1609",
    "name": "bronze_binance_trades",
    "timestamp": "2026-11-26T18:46:37.428Z",
    "batchId": 0,
    "numInputRows": 2,
    "durationMs": {
        "addBatch": 3708,
        "commitOffsets": 120,
        "getBatch": 73,
        "latestOffset": 649,
        "queryPlanning": 237,
        "triggerExecution": 5019,
        "walCommit": 133,
    },
    "stateOperators": [],
    "sources": [
        {
            "description": f"KafkaV2[Subscribe[{TOPIC}]]",
            "startOffset": None,
            "endOffset": {TOPIC: {"2": 2, "5": 0, "4": 0, "1": 0, "3": 0, "0": 0}},
            "latestOffset": {TOPIC: {"2": 2, "5": 0, "4": 0, "1": 0, "3": 0, "0": 0}},
            "numInputRows": 2,
            "metrics": {
                "avgOffsetsBehindLatest": "0.0",
                "maxOffsetsBehindLatest": "0",
                "minOffsetsBehindLatest": "0",
            },
        }
    ],
    "sink": {"description": "glue_catalog.k2_lakehouse.bronze_binance_trades", "numOutputRows": 2},
}

DLQ_PROGRESS: dict[str, Any] = {
    "id": "f7d78f67-488c-4fa6-ada5-345fd8fc7313",
    "runId": "a0e8d532-fd27-4fea-a714-2f1dd086c67e",
    "name": "silver_dlq_bronze_binance_trades",
    "timestamp": "2026-11-26T18:46:45.753Z",
    "batchId": 0,
    "numInputRows": 7,
    "durationMs": {
        "addBatch": 3359,
        "commitOffsets": 141,
        "getBatch": 0,
        "latestOffset": 0,
        "queryPlanning": 98,
        "triggerExecution": 3792,
        "walCommit": 132,
    },
    "stateOperators": [],
    "sources": [
        {
            "description": "org.apache.iceberg.spark.source.SparkMicroBatchStream@7a7f6f4b",
            "startOffset": None,
            "endOffset": {
                "version": 1,
                "snapshot_id": 6900552716880782529,
                "position": 1,
                "scan_all_files": False,
            },
            "latestOffset": None,
            "numInputRows": 7,
        }
    ],
    "sink": {"description": "glue_catalog.k2_lakehouse.silver_dlq", "numOutputRows": 2},
    "observedMetrics": {
        DEAD_LETTERS_OBSERVED: {
            DEAD_LETTER_ROWS: 2,
            **{reason_column(c, r): 0 for c, r in DEAD_LETTER_REASONS},
            "decode__not_framed": 1,
            "validate__non_positive_price": 1,
        }
    },
}

GOLD_PROGRESS: dict[str, Any] = {
    "id": "418fae44-0bdf-40d6-84b9-3fddf177c621",
    "runId": "a471552d-fcaf-42b8-ba8a-76c19776c93d",
    "name": "gold_crypto_trades",
    "timestamp": "2026-11-26T18:46:50.923Z",
    "batchId": 0,
    "numInputRows": 0,
    "durationMs": {
        "addBatch": 1415,
        "commitOffsets": 101,
        "getBatch": 0,
        "latestOffset": 0,
        "queryPlanning": 48,
        "triggerExecution": 1740,
        "walCommit": 114,
    },
    "stateOperators": [],
    "sources": [],
    "sink": {"description": "ForeachBatchSink", "numOutputRows": -1},
}

BRONZE = QueryTarget(Job.BRONZE, "bronze_binance_trades")
DLQ = QueryTarget(Job.SILVER, "silver_dlq", dead_letters_of=Exchange.BINANCE)
GOLD = QueryTarget(Job.GOLD, "gold_crypto_trades")


def _values(datums: list[MetricDatum]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(d.spec.name, d.dimensions): d.value for d in datums}


def _now(progress: dict[str, Any]) -> dict[str, Any]:
    """The progress stamped now: CloudWatch (and Powertools) refuse datapoints 14 days old."""
    fresh = copy.deepcopy(progress)
    fresh["timestamp"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    return fresh


def test_the_trigger_time_is_the_datum_time() -> None:
    expected = datetime(2026, 11, 26, 18, 46, 37, 428_000, tzinfo=UTC).timestamp() * 1000
    assert progress_timestamp_ms(BRONZE_PROGRESS) == expected
    assert {d.timestamp_ms for d in progress_datums(BRONZE, BRONZE_PROGRESS)} == {expected}


def test_a_bronze_batch_reports_rows_duration_and_lag_per_topic() -> None:
    progress = copy.deepcopy(BRONZE_PROGRESS)
    source = progress["sources"][0]
    source["endOffset"] = {TOPIC: {"0": 10, "1": 4, "2": 7}}
    source["latestOffset"] = {TOPIC: {"0": 15, "1": 4, "2": 9}}
    progress["sink"]["numOutputRows"] = 21

    table = (("job", "bronze"), ("table", "bronze_binance_trades"))
    assert _values(progress_datums(BRONZE, progress)) == {
        ("RowsWritten", table): 21,
        ("BatchDuration", table): 5019,
        ("ConsumerLag", (("job", "bronze"), ("topic", TOPIC))): (15 - 10) + 0 + (9 - 7),
    }


def test_lag_is_counted_only_for_kafka_sources() -> None:
    assert records_behind(DLQ_PROGRESS) == {}
    assert records_behind(BRONZE_PROGRESS) == {TOPIC: 0}


def test_an_idle_trigger_reports_nothing() -> None:
    idle = copy.deepcopy(BRONZE_PROGRESS)
    idle["durationMs"] = {"latestOffset": 3, "triggerExecution": 3}
    assert progress_datums(BRONZE, idle) == []


def test_a_foreach_batch_sink_reports_its_time_not_its_rows() -> None:
    """Gold's rows come from its MERGE's snapshots instead (merge_datums)."""
    assert _values(progress_datums(GOLD, GOLD_PROGRESS)) == {
        ("BatchDuration", (("job", "gold"), ("table", "gold_crypto_trades"))): 1740
    }


def test_the_dlq_query_reports_dead_letters_by_exchange_and_reason() -> None:
    values = _values(progress_datums(DLQ, DLQ_PROGRESS))
    binance = (("exchange", "binance"),)
    assert values == {
        ("RowsWritten", (("job", "silver"), ("table", "silver_dlq"))): 2,
        ("BatchDuration", (("job", "silver"), ("table", "silver_dlq"))): 3792,
        ("SilverDeadLetters", binance): 2,
        (
            "SilverDeadLettersByReason",
            (*binance, ("reason_class", "decode"), ("reason", "not_framed")),
        ): 1,
        (
            "SilverDeadLettersByReason",
            (*binance, ("reason_class", "validate"), ("reason", "non_positive_price")),
        ): 1,
    }


def test_a_dlq_batch_without_dead_letters_still_reports_zero() -> None:
    """The DLQ alarm sums SilverDeadLetters; a zero is a datapoint, not missing data."""
    progress = copy.deepcopy(DLQ_PROGRESS)
    progress["observedMetrics"][DEAD_LETTERS_OBSERVED] = {DEAD_LETTER_ROWS: 0}
    progress["sink"]["numOutputRows"] = 0
    values = _values(progress_datums(DLQ, progress))
    assert values[("SilverDeadLetters", (("exchange", "binance"),))] == 0
    assert not any(name == "SilverDeadLettersByReason" for name, _ in values)


def test_every_reason_a_dlq_row_can_carry_is_counted() -> None:
    expected = {(c, r) for c, codes in REASON_CODES.items() for r in codes}
    assert set(DEAD_LETTER_REASONS) == expected
    assert len(DEAD_LETTER_REASONS) == len(expected)
    columns = [reason_column(c, r) for c, r in DEAD_LETTER_REASONS]
    assert len(set(columns)) == len(columns)
    assert reason_column(ReasonClass.VALIDATE, ReasonCode.CROSSED_BOOK) != reason_column(
        ReasonClass.NORMALISE, ReasonCode.INVALID_SIDE
    )


def test_merge_rows_are_the_added_records_of_its_snapshots() -> None:
    snapshots = [
        CommittedSnapshot(1, "append", {"added-records": "40"}),
        CommittedSnapshot(2, "overwrite", {"added-records": "3", "deleted-records": "3"}),
        CommittedSnapshot(3, "replace", {"added-records": "500"}),  # compaction rewrote them
        CommittedSnapshot(4, "overwrite", {"added-position-deletes": "2"}),
    ]
    assert added_records(snapshots) == 43
    assert added_records([]) == 0


def test_merge_datums_time_only_a_whole_batch() -> None:
    timed = _values(merge_datums(Job.OHLCV, "gold_ohlcv_1m", 12, 1_000, duration_ms=250.0))
    table = (("job", "ohlcv"), ("table", "gold_ohlcv_1m"))
    assert timed == {("RowsWritten", table): 12, ("BatchDuration", table): 250.0}
    untimed = _values(merge_datums(Job.GOLD, "gold_crypto_trades", 5, 1_000))
    assert set(untimed) == {("RowsWritten", (("job", "gold"), ("table", "gold_crypto_trades")))}


def test_a_datum_must_give_exactly_its_open_dimensions() -> None:
    with pytest.raises(ValueError, match="takes"):
        MetricDatum(m.ROWS_WRITTEN, (("table", "x"),), 1, 0)
    with pytest.raises(ValueError, match="takes"):
        MetricDatum(m.CONSUMER_LAG, (("job", "bronze"), ("table", "x")), 1, 0)


def test_documents_group_datums_by_dimensions_and_time() -> None:
    datums = progress_datums(DLQ, DLQ_PROGRESS) + progress_datums(BRONZE, BRONZE_PROGRESS)
    documents = emf_documents(datums)
    # silver_dlq table, exchange, two reasons; bronze table, topic.
    assert len(documents) == 6
    assert sum(len(document.datums) for document in documents) == len(datums)
    for document in documents:
        assert document.dimensions[0] == ("service", m.JOBS_SERVICE)
        assert {d.timestamp_ms for d in document.datums} == {document.timestamp_ms}
    aws = MetricDatum(m.JOB_FAILURE_EVENTS, (), 1, 0)
    with pytest.raises(ValueError, match="not one of K2's own"):
        emf_documents([aws])


@pytest.fixture
def stdout_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K2_METRICS_LOG_GROUP", raising=False)


def _printed_documents(output: str) -> Iterator[dict[str, Any]]:
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            yield json.loads(line)


@pytest.mark.usefixtures("stdout_only")
def test_what_the_jobs_print_is_exactly_their_catalogued_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now_ms = progress_timestamp_ms(_now(BRONZE_PROGRESS))
    capsys.readouterr()
    publish(
        progress_datums(BRONZE, _now(BRONZE_PROGRESS))
        + progress_datums(DLQ, _now(DLQ_PROGRESS))
        + merge_datums(Job.GOLD, "gold_crypto_trades", 5, now_ms)
    )
    documents = list(_printed_documents(capsys.readouterr().out))

    catalogued: dict[str, MetricSpec] = {
        spec.name: spec for spec in m.metrics_of(Component.SPARK_JOBS)
    }
    printed: set[str] = set()
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]:
            spec = catalogued[metric["Name"]]
            printed.add(spec.name)
            assert spec.emitted
            assert directive["Namespace"] == spec.namespace.value
            assert metric["Unit"] == spec.unit.value
            # One dimension set, exactly the catalogued one, fixed values as catalogued.
            assert [set(names) for names in directive["Dimensions"]] == [set(spec.dimension_names)]
            for dimension in spec.dimensions:
                if dimension.value is not None:
                    assert document[dimension.name] == dimension.value
    assert printed == set(catalogued)


class _Query:
    def __init__(self, query_id: str, name: str) -> None:
        self.id, self.name = query_id, name


def _progress_event(progress: dict[str, Any]) -> Any:
    return SimpleNamespace(progress=SimpleNamespace(json=json.dumps(progress)))


def test_the_listener_reports_expected_queries_only() -> None:
    published: list[MetricDatum] = []
    listener = JobMetricsListener(publish=published.extend)
    listener.onQueryProgress(_progress_event(BRONZE_PROGRESS))
    assert published == []  # nobody said what the query writes

    listener.expect("bronze_binance_trades", BRONZE)
    listener.onQueryProgress(_progress_event(BRONZE_PROGRESS))
    assert published == progress_datums(BRONZE, BRONZE_PROGRESS)


def test_the_listener_never_fails_the_job(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_datums: object) -> None:
        raise ConnectionError("the metrics endpoint is away")

    listener = JobMetricsListener(publish=broken)
    listener.expect("bronze_binance_trades", BRONZE)
    listener.onQueryProgress(_progress_event(BRONZE_PROGRESS))
    listener.onQueryProgress(cast(Any, SimpleNamespace(progress=SimpleNamespace(json="{"))))
    assert len([r for r in caplog.records if "could not report" in r.message]) == 2


def test_a_finished_query_is_reported_once_its_end_is_heard() -> None:
    listener = JobMetricsListener(publish=lambda _datums: None)
    query = cast(Any, _Query(BRONZE_PROGRESS["id"], "bronze_binance_trades"))
    assert not listener.await_reported(query, timeout_s=0.0)
    listener.onQueryTerminated(cast(Any, SimpleNamespace(id=BRONZE_PROGRESS["id"])))
    assert listener.await_reported(query, timeout_s=0.0)
