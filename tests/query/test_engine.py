"""The query engine against independent computations over the same generated rows.

Gold trades, gold quotes and 1m bars are written with Spark (pyiceberg cannot append to tables
partitioned by a time transform without the optional pyiceberg-core package) into a Glue
database of this module's own. Every answer is compared with plain Python over the rows the
test generated; appends made by a test are recorded in ``Lake`` so later tests expect them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import pytest

from k2.domain.ids import trade_message_id
from k2.domain.markets import Exchange
from k2.domain.ohlcv import DAY_MICROS, MINUTE_MICROS, Timeframe
from k2.lake.catalog import glue_catalog
from k2.lake.lake_init import init_lake
from k2.lake.tables import gold_quotes_table, gold_trades_table, ohlcv_table
from k2.query.aggregations import Metric
from k2.query.engine import QueryEngine
from k2.query.errors import (
    AsOfBeforeFirstSnapshotError,
    InvalidCursorError,
    QueryError,
    SnapshotNotFoundError,
    UnknownFieldError,
)
from k2.query.fields import TRADES
from k2.query.requests import (
    AggregationQuery,
    BarsQuery,
    QuotesQuery,
    ReplayQuery,
    StatsQuery,
    SymbolsQuery,
    TradesQuery,
)
from k2.query.time_travel import TimeTravel
from k2.settings import K2Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

DATABASE = "k2_query_engine_test"
DAY0 = 1_796_000_000_000_000 // DAY_MICROS * DAY_MICROS  # a UTC midnight in 2026
DAYS = 3
MARKETS = [("binance", "BTCUSDT"), ("binance", "ETHUSDT"), ("kraken", "BTCUSD")]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True)
class Trade:
    exchange: str
    symbol: str
    trade_id: int
    ts: int
    price: Decimal
    quantity: Decimal

    def row(self, fields: tuple[str, ...]) -> dict[str, Any]:
        values = {
            "exchange": self.exchange,
            "symbol": self.symbol,
            "trade_id": self.trade_id,
            "timestamp": utc(self.ts),
            "price": self.price,
            "quantity": self.quantity,
        }
        return {name: values[name] for name in fields}


@dataclass
class Lake:
    settings: K2Settings
    spark: SparkSession
    trades: list[Trade] = field(default_factory=list)
    quotes: list[dict[str, Any]] = field(default_factory=list)
    bars: list[dict[str, Any]] = field(default_factory=list)
    next_id: dict[tuple[str, str], int] = field(default_factory=dict)

    def engine(self) -> QueryEngine:
        return QueryEngine.from_settings(self.settings, ttl_seconds=0)

    def new_trades(self, rng: random.Random, count: int, start: int, span: int) -> list[Trade]:
        made: list[Trade] = []
        for index in range(count):
            exchange, symbol = rng.choice(MARKETS)
            trade_id = self.next_id.get((exchange, symbol), 1000)
            self.next_id[(exchange, symbol)] = trade_id + 1
            ts = made[-1].ts if index % 9 == 4 and made else start + rng.randrange(span)
            price = Decimal(rng.randint(10**10, 10**12)).scaleb(-8)
            quantity = Decimal(rng.randint(1, 10**9)).scaleb(-8)
            made.append(Trade(exchange, symbol, trade_id, ts, price, quantity))
        return made

    def append_trades(self, trades: list[Trade]) -> None:
        identifier = gold_trades_table().spark_identifier(DATABASE)
        now = datetime.now(UTC)
        schema = self.spark.table(identifier).schema
        rows = [
            {
                "message_id": trade_message_id(Exchange(t.exchange), t.symbol, t.trade_id),
                "exchange": t.exchange,
                "symbol": t.symbol,
                "exchange_symbol": t.symbol,
                "base_asset": t.symbol[:3],
                "quote_asset": t.symbol[3:],
                "trade_id": t.trade_id,
                "timestamp": utc(t.ts),
                "price": t.price,
                "quantity": t.quantity,
                "side": "BUY" if t.trade_id % 2 else "SELL",
                "ingestion_timestamp": now,
                "gold_updated_at": now,
            }
            for t in trades
        ]
        frame = self.spark.createDataFrame([tuple(r[f.name] for f in schema) for r in rows], schema)
        frame.writeTo(identifier).append()
        self.trades += trades

    def append_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        identifier = f"glue_catalog.{DATABASE}.{table}"
        schema = self.spark.table(identifier).schema
        frame = self.spark.createDataFrame([tuple(r[f.name] for f in schema) for r in rows], schema)
        frame.writeTo(identifier).append()


def _quotes(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for index in range(600):
        exchange, symbol = rng.choice(MARKETS)
        at = utc(DAY0 + rng.randrange(DAYS * DAY_MICROS))
        bid = Decimal(rng.randint(10**10, 10**12)).scaleb(-8)
        rows.append(
            {
                "message_id": f"q{index:05d}",
                "exchange": exchange,
                "symbol": symbol,
                "exchange_symbol": symbol,
                "base_asset": symbol[:3],
                "quote_asset": symbol[3:],
                "update_id": index,
                "exchange_timestamp": at,
                "bid_price": bid,
                "bid_quantity": Decimal("1.5"),
                "ask_price": bid + 1,
                "ask_quantity": Decimal("2.5"),
                "ingestion_timestamp": at,
                "gold_updated_at": at,
            }
        )
    return rows


def _bars(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for exchange, symbol in MARKETS:
        for minute in range(0, 600, 3):
            start = DAY0 + minute * MINUTE_MICROS
            price = Decimal(rng.randint(10**6, 10**8)).scaleb(-2)
            rows.append(
                {
                    "exchange": exchange,
                    "symbol": symbol,
                    "window_start": utc(start),
                    "window_end": utc(start + MINUTE_MICROS),
                    "open": price,
                    "high": price + 2,
                    "low": price - 1,
                    "close": price + 1,
                    "volume": Decimal(3),
                    "notional": price * 3,
                    "vwap": price,
                    "trade_count": 3,
                    "first_trade_id": minute,
                    "first_trade_time": utc(start),
                    "last_trade_id": minute + 2,
                    "last_trade_time": utc(start + 1),
                    "created_at": utc(start),
                    "updated_at": utc(start),
                }
            )
    return rows


@pytest.fixture(scope="module")
def lake(spark: SparkSession, k2_settings: K2Settings) -> Iterator[Lake]:
    settings = k2_settings.model_copy(update={"glue_database": DATABASE})
    tables = [gold_trades_table(), gold_quotes_table(), ohlcv_table(Timeframe.ONE_MINUTE)]
    init_lake(glue_catalog(settings), DATABASE, tables)
    state = Lake(settings, spark)
    rng = random.Random(6)
    state.append_trades(state.new_trades(rng, 1500, DAY0, DAYS * DAY_MICROS))
    state.append_trades(state.new_trades(rng, 1500, DAY0, DAYS * DAY_MICROS))
    state.quotes = _quotes(rng)
    state.append_rows(gold_quotes_table().name, state.quotes)
    state.bars = _bars(rng)
    state.append_rows(ohlcv_table(Timeframe.ONE_MINUTE).name, state.bars)
    yield state


def _order(trade: Trade) -> tuple[Any, ...]:
    return (trade.ts, trade.exchange, trade.symbol, trade.trade_id)


ALL = (utc(DAY0).isoformat(), utc(DAY0 + 10 * DAY_MICROS).isoformat())


# --- rows ------------------------------------------------------------------------------------


def test_trades_match_a_filter_in_python_with_a_truthful_has_more(lake: Lake) -> None:
    engine = lake.engine()
    start, end = DAY0 + DAY_MICROS // 3, DAY0 + 2 * DAY_MICROS
    fields = ("timestamp", "symbol", "price", "quantity", "trade_id", "exchange")
    expected = sorted(
        (
            t
            for t in lake.trades
            if t.symbol == "BTCUSDT"
            and t.exchange == "binance"
            and start <= t.ts < end
            and Decimal(3000) <= t.price <= Decimal(8000)
            and t.quantity >= Decimal("1")
        ),
        key=_order,
        reverse=True,
    )
    assert len(expected) > 20
    query = TradesQuery(
        start=utc(start).isoformat(),
        end=utc(end).isoformat().replace("+00:00", "Z"),
        symbols=("btcusdt",),
        exchanges=("BINANCE",),
        fields=fields,
        min_price=Decimal(3000),
        max_price=Decimal(8000),
        min_quantity=Decimal(1),
        limit=len(expected),
    )
    page = engine.trades(query)
    assert list(page.rows) == [t.row(fields) for t in expected]
    assert not page.has_more
    shorter = engine.trades(TradesQuery(**{**query.__dict__, "limit": len(expected) - 1}))
    assert shorter.has_more and list(shorter.rows) == [t.row(fields) for t in expected[:-1]]

    oldest = engine.trades(
        TradesQuery(start=utc(start), end=utc(end), newest_first=False, limit=5, fields=fields)
    )
    everything = sorted((t for t in lake.trades if start <= t.ts < end), key=_order)
    assert list(oldest.rows) == [t.row(fields) for t in everything[:5]] and oldest.has_more


def test_the_plan_prunes_partitions_and_files(lake: Lake) -> None:
    engine = lake.engine()
    table = glue_catalog(lake.settings).load_table(gold_trades_table().identifier(DATABASE))
    total = len(list(table.scan().plan_files()))
    one_day = TradesQuery(
        start=utc(DAY0 + DAY_MICROS), end=utc(DAY0 + 2 * DAY_MICROS), symbols=("ETHUSDT",)
    )
    page = engine.trades(one_day)
    assert 0 < page.files_scanned < total
    assert page.files_scanned <= total // (DAYS * len(MARKETS)) + 2
    everything = engine.trades(TradesQuery(start=ALL[0], end=ALL[1], limit=1))
    assert everything.files_scanned == total


def test_quotes_and_bars_match_a_filter_in_python(lake: Lake) -> None:
    engine = lake.engine()
    start, end = DAY0 + DAY_MICROS // 2, DAY0 + DAY_MICROS * 2
    expected_quotes = sorted(
        (
            q
            for q in lake.quotes
            if q["symbol"] == "BTCUSD"
            and start <= (q["ingestion_timestamp"] - EPOCH) // timedelta(microseconds=1) < end
        ),
        key=lambda q: (q["ingestion_timestamp"], q["exchange"], q["symbol"], q["message_id"]),
    )
    fields = ("message_id", "bid_price", "ask_price", "ingestion_timestamp")
    page = engine.quotes(
        QuotesQuery(
            start=utc(start), end=utc(end), symbols=("BtcUsd",), fields=fields, newest_first=False
        )
    )
    assert [r["message_id"] for r in page.rows] == [q["message_id"] for q in expected_quotes]
    assert [r["bid_price"] for r in page.rows] == [q["bid_price"] for q in expected_quotes]

    bar_start, bar_end = DAY0 + 60 * MINUTE_MICROS, DAY0 + 300 * MINUTE_MICROS
    expected_bars = sorted(
        (
            b
            for b in lake.bars
            if b["exchange"] == "kraken" and utc(bar_start) <= b["window_start"] < utc(bar_end)
        ),
        key=lambda b: b["window_start"],
        reverse=True,
    )
    bars = engine.bars(
        BarsQuery("1m", utc(bar_start), utc(bar_end), exchanges=("kraken",), limit=50)
    )
    assert bars.has_more and len(expected_bars) > 50
    assert [(r["window_start"], r["open"], r["vwap"]) for r in bars.rows] == [
        (b["window_start"], b["open"], b["vwap"]) for b in expected_bars[:50]
    ]


def test_symbols_and_stats(lake: Lake) -> None:
    engine = lake.engine()
    instruments = engine.symbols(SymbolsQuery())
    assert [(i.exchange, i.symbol) for i in instruments] == sorted(
        {(t.exchange, t.symbol) for t in lake.trades}
    )
    assert [i.symbol for i in engine.symbols(SymbolsQuery(exchanges=("Kraken",)))] == ["BTCUSD"]
    stats = engine.stats(StatsQuery())
    assert stats.row_count == len(lake.trades)
    for item in stats.instruments:
        mine = [t for t in lake.trades if (t.exchange, t.symbol) == (item.exchange, item.symbol)]
        assert item.row_count == len(mine)
        assert item.first_time == utc(min(t.ts for t in mine))
        assert item.last_time == utc(max(t.ts for t in mine))


def _attempts(engine: QueryEngine, text: str) -> list[Callable[[], object]]:
    """Every string parameter of every query, set to ``text``."""
    return [
        lambda: engine.trades(TradesQuery(start=ALL[0], end=ALL[1], symbols=(text,))),
        lambda: engine.trades(TradesQuery(start=ALL[0], end=ALL[1], exchanges=(text,))),
        lambda: engine.trades(TradesQuery(start=ALL[0], end=ALL[1], fields=(text,))),
        lambda: engine.trades(TradesQuery(start=text, end=ALL[1])),
        lambda: engine.quotes(QuotesQuery(start=ALL[0], end=ALL[1], symbols=(text,))),
        lambda: engine.bars(BarsQuery(text, ALL[0], ALL[1])),
        lambda: engine.bars(BarsQuery("1m", ALL[0], ALL[1], fields=(text,))),
        lambda: engine.replay(ReplayQuery(ALL[0], ALL[1], data_type=text)),
        lambda: engine.replay(ReplayQuery(ALL[0], ALL[1], cursor=text)),
        lambda: engine.symbols(SymbolsQuery(exchanges=(text,))),
        lambda: engine.stats(StatsQuery(symbols=(text,))),
        lambda: engine.trades(TradesQuery(start=ALL[0], end=ALL[1], travel=TimeTravel(as_of=text))),
    ]


def test_unknown_fields_and_injection_strings_never_execute(lake: Lake) -> None:
    engine = lake.engine()
    with pytest.raises(UnknownFieldError) as unknown:
        engine.trades(TradesQuery(start=ALL[0], end=ALL[1], fields=("price", "secret")))
    assert unknown.value.code == "unknown_field"
    hostile = [
        "BTCUSDT' OR '1'='1",
        "x'; DROP TABLE scan; --",
        "\"; SELECT * FROM read_csv('/etc/passwd'); --",
        "price) FROM scan; --",
        "1 OR 1=1",
    ]
    for text in hostile:
        for attempt in _attempts(engine, text):
            with pytest.raises(QueryError):
                attempt()
    # The table is intact.
    assert engine.stats(StatsQuery()).row_count == len(lake.trades)


# --- aggregations ----------------------------------------------------------------------------


def _round18(value: Fraction) -> Decimal:
    scaled = value * 10**18
    floor = scaled.numerator // scaled.denominator
    return Decimal(floor + (1 if scaled - floor >= Fraction(1, 2) else 0)).scaleb(-18)


def _twap(trades: list[Trade], window_end: int) -> Decimal:
    ordered = sorted(trades, key=lambda t: (t.ts, t.trade_id))
    weighted = Fraction(0)
    for index, trade in enumerate(ordered):
        until = ordered[index + 1].ts if index + 1 < len(ordered) else window_end
        weighted += Fraction(trade.price) * (until - trade.ts)
    return _round18(weighted / (window_end - ordered[0].ts))


def test_aggregations_match_an_independent_computation(lake: Lake) -> None:
    engine = lake.engine()
    start, end = DAY0 + 7 * 3_600_000_000 + 123, DAY0 + 31 * 3_600_000_000
    interval = timedelta(minutes=90)
    step = Decimal("250.5")
    result = engine.aggregate(
        AggregationQuery(
            symbols=("btcusdt", "ETHUSDT"),
            start=utc(start),
            end=utc(end),
            metrics=(Metric.VWAP, Metric.TWAP, Metric.OHLCV, Metric.VOLUME_PROFILE),
            interval=interval,
            price_step=step,
        )
    )
    assert [(i.exchange, i.symbol) for i in result.instruments] == [
        ("binance", "BTCUSDT"),
        ("binance", "ETHUSDT"),
    ]
    width = interval // timedelta(microseconds=1)
    for item in result.instruments:
        mine = [
            t
            for t in lake.trades
            if (t.exchange, t.symbol) == (item.exchange, item.symbol) and start <= t.ts < end
        ]
        assert item.trade_count == len(mine)
        notional = sum(Fraction(t.price) * Fraction(t.quantity) for t in mine)
        volume = sum(Fraction(t.quantity) for t in mine)
        assert item.vwap == _round18(Fraction(notional) / Fraction(volume))
        assert item.twap == _twap(mine, end)
        by_bucket: dict[int, list[Trade]] = {}
        for trade in mine:
            by_bucket.setdefault(trade.ts // width * width, []).append(trade)
        assert [b.start_us for b in item.buckets] == sorted(by_bucket)
        for bucket in item.buckets:
            members = sorted(by_bucket[bucket.start_us], key=lambda t: (t.ts, t.trade_id))
            assert (bucket.open, bucket.close) == (members[0].price, members[-1].price)
            assert bucket.high == max(t.price for t in members)
            assert bucket.low == min(t.price for t in members)
            assert bucket.volume == sum(t.quantity for t in members)
            assert bucket.trade_count == len(members)
            assert bucket.twap == _twap(members, min(bucket.start_us + width, end))
        levels: dict[int, list[Decimal]] = {}
        for trade in mine:
            level = int(Fraction(trade.price) // Fraction(step))
            levels.setdefault(level, []).append(trade.quantity)
        assert [(p.price_low, p.volume, p.trade_count) for p in item.volume_profile] == [
            (level * step, sum(q), len(q)) for level, q in sorted(levels.items())
        ]


# --- time travel and replay (these append, so they run last) --------------------------------


def test_time_travel_reads_the_earlier_state_after_an_append(lake: Lake) -> None:
    engine = lake.engine()
    table = glue_catalog(lake.settings).load_table(gold_trades_table().identifier(DATABASE))
    before = table.current_snapshot()
    assert before is not None
    count_before = len(lake.trades)
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    lake.append_trades(lake.new_trades(random.Random(7), 200, DAY0, DAYS * DAY_MICROS))

    now = engine.stats(StatsQuery())
    by_id = engine.stats(StatsQuery(travel=TimeTravel(snapshot_id=before.snapshot_id)))
    as_of = engine.stats(StatsQuery(travel=TimeTravel(as_of=moment.isoformat())))
    assert now.row_count == len(lake.trades) == count_before + 200
    assert by_id.row_count == as_of.row_count == count_before
    assert as_of.snapshot_id == before.snapshot_id

    snapshots = engine.snapshots(TRADES)
    assert snapshots[0].snapshot_id == now.snapshot_id and snapshots[0].operation == "append"
    assert snapshots[0].added_records == 200 and snapshots[0].total_records == len(lake.trades)
    assert before.snapshot_id in [s.snapshot_id for s in snapshots]

    with pytest.raises(SnapshotNotFoundError) as missing:
        engine.stats(StatsQuery(travel=TimeTravel(snapshot_id=12345)))
    assert missing.value.code == "snapshot_not_found"
    with pytest.raises(AsOfBeforeFirstSnapshotError) as early:
        engine.stats(StatsQuery(travel=TimeTravel(as_of="2001-01-01T00:00:00+00:00")))
    assert early.value.code == "as_of_before_first_snapshot"


def test_replay_pages_concatenate_to_the_ordered_result_despite_a_concurrent_append(
    lake: Lake,
) -> None:
    engine = lake.engine()
    start, end = utc(DAY0 + 3_600_000_000), utc(DAY0 + 2 * DAY_MICROS)
    expected = sorted(
        (t for t in lake.trades if utc(t.ts) >= start and utc(t.ts) < end), key=_order
    )
    fields = ("timestamp", "exchange", "symbol", "trade_id", "price")
    query = ReplayQuery(start.isoformat(), end.isoformat(), fields=fields, limit=400)
    pages = [engine.replay(query)]
    # A stream commits between pages, inside the replayed range: the pages must not change.
    lake.append_trades(lake.new_trades(random.Random(8), 150, DAY0 + DAY_MICROS, 3_600_000_000))
    while pages[-1].has_more:
        cursor = pages[-1].next_cursor
        assert cursor is not None
        pages.append(engine.replay(ReplayQuery(**{**query.__dict__, "cursor": cursor})))
    assert len(pages) == -(-len(expected) // 400)
    assert {page.snapshot_id for page in pages} == {pages[0].snapshot_id}
    assert [row for page in pages for row in page.rows] == [t.row(fields) for t in expected]
    assert pages[-1].next_cursor is None

    cursor = pages[0].next_cursor
    assert cursor is not None
    payload, mac = cursor.split(".")
    tampered = [
        payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + mac,
        cursor[:-1] + ("A" if cursor[-1] != "A" else "B"),
        "not-a-cursor",
        "",
    ]
    for text in tampered:
        with pytest.raises(InvalidCursorError) as refused:
            engine.replay(ReplayQuery(**{**query.__dict__, "cursor": text}))
        assert refused.value.code == "invalid_cursor"
    with pytest.raises(InvalidCursorError):  # a cursor is bound to its request's filters
        engine.replay(ReplayQuery(**{**query.__dict__, "cursor": cursor, "symbols": ("ETHUSDT",)}))
