"""The demo's lake step: what the feeds put in Kafka, through bronze, silver, gold and the OHLCV
bars, then gold read back through pyiceberg + DuckDB (the API's query path) and reconciled with
the ground truth, and the bars checked against their invariants.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pyiceberg.expressions import EqualTo

from k2.domain.markets import DataType, Exchange
from k2.domain.ohlcv import Timeframe
from k2.jobs.bronze import BronzeRunResult, run_bronze
from k2.jobs.gold import GoldRunResult, gold_table, run_gold
from k2.jobs.ohlcv import OhlcvRunResult, run_ohlcv
from k2.jobs.silver import SilverRunResult, run_silver
from k2.jobs.spark_session import build_spark_session
from k2.lake.catalog import glue_catalog
from k2.lake.tables import ohlcv_table, silver_dlq_table
from k2.local.feed_reconciliation import (
    ComparableTrade,
    SymbolReconciliation,
    read_ground_truth,
    reconcile,
)
from k2.local.job_failure_events import reporting_failure
from k2.query.lake_reader import duckdb_over, read_table
from k2.query.ohlcv_check import OhlcvCheckReport, check_ohlcv
from k2.settings import K2Settings


@dataclass(frozen=True)
class LakeReport:
    bronze: list[BronzeRunResult]
    silver: list[SilverRunResult]
    gold: list[GoldRunResult]
    gold_reconciliation: list[SymbolReconciliation]
    dlq_reasons: list[tuple[str, str, str, int]]  # source table, class, reason, rows
    gold_quotes: dict[str, int]  # quotes in gold_crypto_quotes per exchange
    ohlcv: OhlcvRunResult
    latest_bars: list[dict[str, Any]]  # the latest bar of every timeframe, exchange and symbol
    ohlcv_check: OhlcvCheckReport


def run_lake_step(
    settings: K2Settings,
    windows: list[SymbolReconciliation],
    ground_truth_path: Path,
    progress: Callable[[str], None],
) -> LakeReport:
    """Run every job once (availableNow), then check gold over the feed step's id windows."""
    progress("Starting Spark (local[*], Iceberg on the Glue catalog)")
    spark = build_spark_session("k2-demo-lake", settings)
    pairs = [(exchange, data_type) for exchange in Exchange for data_type in DataType]
    bronze, silver = [], []
    for exchange, data_type in pairs:
        progress(f"bronze: Kafka → bronze_{exchange}_{data_type}")
        with reporting_failure(settings, f"bronze-{exchange}-{data_type}"):
            bronze.append(run_bronze(spark, settings, exchange, data_type))
    for exchange, data_type in pairs:
        progress(f"silver: bronze_{exchange}_{data_type} → silver (+ silver_dlq)")
        with reporting_failure(settings, f"silver-{exchange}-{data_type}"):
            silver.append(run_silver(spark, settings, exchange, data_type))
    gold = []
    for data_type in DataType:
        progress(f"gold: MERGE into gold_crypto_{data_type}")
        with reporting_failure(settings, f"gold-{data_type}"):
            gold.append(run_gold(spark, settings, data_type))
    progress("ohlcv: recomputing the bars of the windows gold changed, MERGE into gold_ohlcv_*")
    with reporting_failure(settings, "ohlcv"):
        ohlcv = run_ohlcv(spark, settings)
    progress("Reading gold and the bars back through pyiceberg into DuckDB")
    now = datetime.now(UTC)
    return LakeReport(
        bronze=bronze,
        silver=silver,
        gold=gold,
        gold_reconciliation=_reconcile_gold(settings, windows, ground_truth_path),
        dlq_reasons=_dlq_reasons(settings),
        gold_quotes=_gold_quotes(settings),
        ohlcv=ohlcv,
        latest_bars=latest_bars(settings),
        ohlcv_check=check_ohlcv(settings, now - timedelta(days=1), now + timedelta(days=1), now),
    )


def latest_bars(settings: K2Settings) -> list[dict[str, Any]]:
    """The newest bar of each timeframe, exchange and symbol."""
    catalog = glue_catalog(settings)
    found: list[dict[str, Any]] = []
    for timeframe in Timeframe:
        identifier = ohlcv_table(timeframe).identifier(settings.glue_database)
        bars = read_table(catalog, identifier)
        cursor = duckdb_over({"bars": bars}).execute(
            "SELECT exchange, symbol, window_start, open, high, low, close, volume, vwap,"
            " trade_count FROM bars QUALIFY row_number() OVER"
            " (PARTITION BY exchange, symbol ORDER BY window_start DESC) = 1"
            " ORDER BY exchange, symbol"
        )
        names = [column[0] for column in cursor.description or ()]
        found += [
            {"timeframe": str(timeframe), **dict(zip(names, row, strict=True))}
            for row in cursor.fetchall()
        ]
    return found


def _reconcile_gold(
    settings: K2Settings, windows: list[SymbolReconciliation], ground_truth_path: Path
) -> list[SymbolReconciliation]:
    catalog = glue_catalog(settings)
    identifier = gold_table(DataType.TRADES).identifier(settings.glue_database)
    columns = ["exchange", "exchange_symbol", "trade_id", "price", "quantity", "timestamp", "side"]
    in_gold: list[ComparableTrade] = []
    made: list[ComparableTrade] = []
    truth = read_ground_truth(ground_truth_path)
    for window in windows:
        # The pydantic mypy plugin misreads EqualTo's own __init__.
        symbol = EqualTo(term="exchange_symbol", literal=window.symbol)  # type: ignore[call-arg]
        arrow = read_table(catalog, identifier, columns, symbol)
        rows = (
            duckdb_over({"gold": arrow})
            .execute(
                "SELECT exchange, exchange_symbol, trade_id, price, quantity,"
                " epoch_us(timestamp), lower(side) FROM gold"
                " WHERE exchange = ? AND trade_id BETWEEN ? AND ?",
                [window.exchange.value, window.first_id, window.last_id],
            )
            .fetchall()
        )
        in_gold += [
            ComparableTrade(Exchange(e), s, i, p, q, t, side) for e, s, i, p, q, t, side in rows
        ]
        made += [
            trade
            for trade in truth
            if (trade.exchange, trade.symbol) == (window.exchange, window.symbol)
            and window.first_id <= trade.trade_id <= window.last_id
        ]
    return reconcile(made, in_gold)


def _gold_quotes(settings: K2Settings) -> dict[str, int]:
    identifier = gold_table(DataType.QUOTES).identifier(settings.glue_database)
    arrow = read_table(glue_catalog(settings), identifier, ["exchange"])
    return dict(Counter(arrow.column("exchange").to_pylist()))


def _dlq_reasons(settings: K2Settings) -> list[tuple[str, str, str, int]]:
    catalog = glue_catalog(settings)
    identifier = silver_dlq_table().identifier(settings.glue_database)
    arrow = read_table(catalog, identifier, ["source_table", "reason_class", "reason"])
    counts = Counter(
        (row["source_table"], row["reason_class"], row["reason"]) for row in arrow.to_pylist()
    )
    return [(*key, count) for key, count in sorted(counts.items())]
