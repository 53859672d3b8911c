"""The query engine the API calls: one method per question, each validated, pruned and bounded.

Every read goes the same way (:mod:`k2.query.scan`): resolve the snapshot (current, by id or as
of a time), let pyiceberg plan with the request's row filter, read only the needed columns, run
parameterised SQL in DuckDB. Pages fetch ``limit + 1`` rows so ``has_more`` is true exactly when
another row exists. Table metadata comes from a :class:`TableCache` (short TTL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import BooleanExpression
from pyiceberg.table import Table

from k2.lake.catalog import glue_catalog
from k2.query import aggregations, sql
from k2.query.aggregations import Metric, PricePoint
from k2.query.cursor import ReplayCursor, decode_cursor, encode_cursor, request_fingerprint
from k2.query.errors import (
    InvalidCursorError,
    InvalidParameterError,
    SnapshotNotFoundError,
    TooManyRowsError,
)
from k2.query.exact_totals import native_totals
from k2.query.fields import QUOTES, TRADES, QueryableTable, bars_for, for_data_type
from k2.query.filters import row_filter
from k2.query.limits import (
    DEFAULT_METADATA_TTL_SECONDS,
    MAX_AGGREGATION_RANGE,
    MAX_AGGREGATION_TRADES,
    MAX_BAR_TIME_RANGE,
    MAX_BARS_PER_REQUEST,
    MAX_ROWS_PER_REQUEST,
    MAX_TIME_RANGE,
)
from k2.query.params import (
    TimeRange,
    check_limit,
    from_micros,
    normalise_exchanges,
    normalise_symbols,
    time_range,
    to_micros,
)
from k2.query.requests import (
    Aggregation,
    AggregationQuery,
    BarsQuery,
    Instrument,
    InstrumentAggregation,
    InstrumentStats,
    Page,
    QuotesQuery,
    ReplayQuery,
    Stats,
    StatsQuery,
    SymbolsQuery,
    Time,
    TradesQuery,
)
from k2.query.scan import ScanResult, execute, scan
from k2.query.table_cache import TableCache
from k2.query.time_travel import CURRENT, SnapshotInfo, TimeTravel, list_snapshots, resolve_snapshot
from k2.settings import K2Settings

DEFAULT_CURSOR_SECRET = b"k2-replay-cursor-v1"
"""Used only when none is configured: it still detects corruption and naive edits, but anyone who
reads this source can forge a cursor, so deployments pass a secret (Secrets Manager / SSM)."""

REPLAY_FIRST_WINDOW = timedelta(hours=1)
"""A replay page reads time windows from its key on, starting this wide and growing 4x until it
has a page, so a page of a month-long replay reads about a page of data, not the month."""


def _decimal_bound(name: str, value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidParameterError(f"{name} must be a non-negative decimal, got {value!r}")
    return value


def _range(start: Time | None, end: Time | None, most: timedelta) -> TimeRange | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise InvalidParameterError("give both start and end, or neither")
    return time_range(start, end).check_span(most)


class QueryEngine:
    """Reads the K2 gold and bar tables of one Glue database."""

    def __init__(
        self, tables: TableCache, database: str, cursor_secret: bytes = DEFAULT_CURSOR_SECRET
    ) -> None:
        if not cursor_secret:
            raise ValueError("cursor_secret must not be empty")
        self.tables = tables
        self.database = database
        self._secret = cursor_secret

    @classmethod
    def from_settings(
        cls,
        settings: K2Settings,
        ttl_seconds: float = DEFAULT_METADATA_TTL_SECONDS,
        clock: Callable[[], float] | None = None,
        cursor_secret: bytes = DEFAULT_CURSOR_SECRET,
    ) -> QueryEngine:
        factory = lambda: glue_catalog(settings)  # noqa: E731 - created lazily, once
        cache = (
            TableCache(factory, ttl_seconds)
            if clock is None
            else TableCache(factory, ttl_seconds, clock)
        )
        return cls(cache, settings.glue_database, cursor_secret)

    # --- plumbing --------------------------------------------------------------------------

    def _table(self, table: QueryableTable, travel: TimeTravel) -> tuple[Table, int | None]:
        """The loaded table and the snapshot ``travel`` selects; reloads once if the snapshot
        id is newer than the cached metadata."""
        identifier = table.definition.identifier(self.database)
        loaded = self.tables.table(identifier)
        try:
            return loaded, resolve_snapshot(loaded, travel)
        except SnapshotNotFoundError:
            loaded = self.tables.table(identifier, fresh=True)
            return loaded, resolve_snapshot(loaded, travel)

    @staticmethod
    def _read(
        loaded: Table, snapshot_id: int | None, columns: Sequence[str], where: BooleanExpression
    ) -> ScanResult:
        if snapshot_id is None:  # a table without snapshots: nothing to read
            return ScanResult(loaded.scan(selected_fields=tuple(columns)).to_arrow(), None, 0)
        return scan(loaded, columns, where, snapshot_id)

    @staticmethod
    def _rows(arrow: pa.Table, fields: Sequence[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = arrow.select(list(fields)).to_pylist()
        return rows

    def _page(
        self,
        table: QueryableTable,
        query: TradesQuery | QuotesQuery | BarsQuery,
        most_span: timedelta,
        most_rows: int,
        bounds: Sequence[sql.Bound] = (),
    ) -> Page:
        """One page of ``table`` for a rows query: validated, pruned, ``limit + 1`` fetched."""
        span = time_range(query.start, query.end).check_span(most_span)
        symbols = normalise_symbols(query.symbols)
        exchanges = normalise_exchanges(query.exchanges)
        limit = check_limit(query.limit, most_rows)
        fields = table.select(query.fields)
        columns = table.select(fields, always=[*table.order_key, *(b.field for b in bounds)])
        loaded, snapshot_id = self._table(table, query.travel)
        result = self._read(
            loaded, snapshot_id, columns, row_filter(table, symbols, exchanges, span)
        )
        statement = sql.select_rows(
            table, columns, limit + 1, bounds, descending=query.newest_first
        )
        rows = self._rows(execute(result.arrow, statement.sql, statement.parameters), fields)
        return Page(
            tuple(rows[:limit]),
            len(rows) > limit,
            snapshot_id,
            result.files_planned,
            rows_scanned=result.arrow.num_rows,
        )

    # --- rows ------------------------------------------------------------------------------

    def trades(self, query: TradesQuery) -> Page:
        """Gold trades in ``[start, end)``, newest first unless asked otherwise."""
        candidates = [
            ("price", ">=", _decimal_bound("min_price", query.min_price)),
            ("price", "<=", _decimal_bound("max_price", query.max_price)),
            ("quantity", ">=", _decimal_bound("min_quantity", query.min_quantity)),
            ("quantity", "<=", _decimal_bound("max_quantity", query.max_quantity)),
        ]
        bounds = [sql.Bound(name, op, value) for name, op, value in candidates if value is not None]  # type: ignore[arg-type]
        return self._page(TRADES, query, MAX_TIME_RANGE, MAX_ROWS_PER_REQUEST, bounds)

    def quotes(self, query: QuotesQuery) -> Page:
        """Gold quotes with ``ingestion_timestamp`` in ``[start, end)``."""
        return self._page(QUOTES, query, MAX_TIME_RANGE, MAX_ROWS_PER_REQUEST)

    def bars(self, query: BarsQuery) -> Page:
        """OHLCV bars of one timeframe with ``window_start`` in ``[start, end)``."""
        return self._page(
            bars_for(query.timeframe), query, MAX_BAR_TIME_RANGE, MAX_BARS_PER_REQUEST
        )

    # --- replay ----------------------------------------------------------------------------

    def replay(self, query: ReplayQuery) -> Page:
        """One page of an ordered replay (oldest first by the table's ``order_key``), with a
        ``next_cursor`` while more rows exist. Later pages read the first page's snapshot."""
        table = for_data_type(query.data_type)
        span = time_range(query.start, query.end)
        symbols = normalise_symbols(query.symbols)
        exchanges = normalise_exchanges(query.exchanges)
        limit = check_limit(query.limit, MAX_ROWS_PER_REQUEST)
        fields = table.select(query.fields)
        fingerprint = request_fingerprint(
            {
                "table": table.name,
                "symbols": symbols,
                "exchanges": exchanges,
                "start": span.start_us,
                "end": span.end_us,
            }
        )
        after: tuple[Any, ...] | None = None
        travel = query.travel
        if query.cursor is not None:
            if travel != CURRENT:
                raise InvalidParameterError("a cursor already names its snapshot; drop as_of")
            cursor = decode_cursor(query.cursor, self._secret)
            if cursor.table != table.name or cursor.request != fingerprint:
                raise InvalidCursorError("cursor belongs to another request")
            if len(cursor.key) != len(table.order_key) or not isinstance(cursor.key[0], int):
                raise InvalidCursorError("malformed cursor key")
            travel = TimeTravel(snapshot_id=cursor.snapshot_id)
            after = (from_micros(cursor.key[0]), *cursor.key[1:])
        loaded, snapshot_id = self._table(table, travel)
        if snapshot_id is None:
            return Page((), False, None, 0)

        columns = table.select(fields, always=table.order_key)
        rows: list[dict[str, Any]] = []
        files = scanned = 0
        low = span.start_us if after is None else max(span.start_us, to_micros(after[0]))
        width = REPLAY_FIRST_WINDOW // timedelta(microseconds=1)
        while low < span.end_us and len(rows) <= limit:
            high = min(span.end_us, low + width)
            window = TimeRange(low, high)
            where = row_filter(table, symbols, exchanges, window)
            result = scan(loaded, columns, where, snapshot_id)
            files += result.files_planned
            scanned += result.arrow.num_rows
            statement = sql.select_rows(table, columns, limit + 1 - len(rows), after=after)
            rows += execute(result.arrow, statement.sql, statement.parameters).to_pylist()
            low, width = high, width * 4

        page, has_more = rows[:limit], len(rows) > limit
        next_cursor = None
        if has_more:
            last = page[-1]
            key = (to_micros(last[table.time_column]), *(last[n] for n in table.order_key[1:]))
            next_cursor = encode_cursor(
                ReplayCursor(table.name, snapshot_id, fingerprint, key), self._secret
            )
        projected = tuple({name: row[name] for name in fields} for row in page)
        return Page(projected, has_more, snapshot_id, files, next_cursor, scanned)

    # --- catalogue questions ---------------------------------------------------------------

    def symbols(self, query: SymbolsQuery) -> tuple[Instrument, ...]:
        """Each (exchange, symbol) with rows (in the range, if given), sorted."""
        table = for_data_type(query.data_type)
        span = _range(query.start, query.end, MAX_BAR_TIME_RANGE)
        exchanges = normalise_exchanges(query.exchanges)
        loaded, snapshot_id = self._table(table, query.travel)
        result = self._read(
            loaded,
            snapshot_id,
            ("exchange", "symbol"),
            row_filter(table, (), exchanges, span),
        )
        statement = sql.distinct_instruments(table)
        rows = execute(result.arrow, statement.sql, statement.parameters).to_pylist()
        return tuple(Instrument(row["exchange"], row["symbol"]) for row in rows)

    def stats(self, query: StatsQuery) -> Stats:
        """Row count and first/last time per (exchange, symbol)."""
        table = for_data_type(query.data_type)
        span = _range(query.start, query.end, MAX_BAR_TIME_RANGE)
        symbols = normalise_symbols(query.symbols)
        exchanges = normalise_exchanges(query.exchanges)
        loaded, snapshot_id = self._table(table, query.travel)
        result = self._read(
            loaded,
            snapshot_id,
            ("exchange", "symbol", table.time_column),
            row_filter(table, symbols, exchanges, span),
        )
        statement = sql.instrument_stats(table)
        rows = execute(result.arrow, statement.sql, statement.parameters).to_pylist()
        return Stats(snapshot_id, tuple(InstrumentStats(**row) for row in rows))

    def snapshots(self, table: QueryableTable, limit: int = 100) -> tuple[SnapshotInfo, ...]:
        """The table's snapshots, newest first (fresh metadata: a listing must show the
        latest commit)."""
        identifier = table.definition.identifier(self.database)
        return tuple(list_snapshots(self.tables.table(identifier, fresh=True), limit))

    # --- aggregations ----------------------------------------------------------------------

    def aggregate(self, query: AggregationQuery) -> Aggregation:
        """VWAP, TWAP, OHLCV buckets and volume profiles per (exchange, symbol)."""
        symbols = normalise_symbols(query.symbols)
        if not symbols:
            raise InvalidParameterError("an aggregation needs at least one symbol")
        metrics = {Metric(metric) for metric in query.metrics}
        if not metrics:
            raise InvalidParameterError("an aggregation needs at least one metric")
        span = time_range(query.start, query.end).check_span(MAX_AGGREGATION_RANGE)
        interval_us = None
        if query.interval is not None:
            if not isinstance(query.interval, timedelta):
                raise InvalidParameterError("interval must be a duration")
            interval_us = aggregations.check_interval(
                query.interval // timedelta(microseconds=1), span
            )
        if Metric.OHLCV in metrics and interval_us is None:
            raise InvalidParameterError("the ohlcv metric needs an interval")
        step = None
        if Metric.VOLUME_PROFILE in metrics:
            if query.price_step is None:
                raise InvalidParameterError("the volume_profile metric needs a price_step")
            step = aggregations.check_step(query.price_step)
        exchanges = normalise_exchanges(query.exchanges)

        loaded, snapshot_id = self._table(TRADES, query.travel)
        columns = ("exchange", "symbol", "timestamp", "trade_id", "price", "quantity")
        result = self._read(
            loaded, snapshot_id, columns, row_filter(TRADES, symbols, exchanges, span)
        )
        if result.arrow.num_rows > MAX_AGGREGATION_TRADES:
            raise TooManyRowsError(
                f"{result.arrow.num_rows} trades; an aggregation reads at most "
                f"{MAX_AGGREGATION_TRADES} (narrow the range or the symbols)"
            )
        if interval_us is None and Metric.VOLUME_PROFILE not in metrics:
            totals = native_totals(result.arrow, span.end_us, metrics)
            if totals is not None:
                return Aggregation(snapshot_id, result.files_planned, totals, result.arrow.num_rows)
        statement = sql.trades_for_aggregation(TRADES)
        ordered = execute(result.arrow, statement.sql, statement.parameters)
        columns_data = (ordered.column(i).to_pylist() for i in range(ordered.num_columns))
        rows = zip(*columns_data, strict=True)
        instruments = []
        for (exchange, symbol), group in groupby(rows, key=lambda row: (row[0], row[1])):
            trades = [PricePoint(ts, trade_id, p, q) for _, _, ts, trade_id, p, q in group]
            instruments.append(
                self._aggregate_instrument(
                    exchange, symbol, trades, metrics, span, interval_us, step
                )
            )
        return Aggregation(
            snapshot_id, result.files_planned, tuple(instruments), result.arrow.num_rows
        )

    @staticmethod
    def _aggregate_instrument(
        exchange: str,
        symbol: str,
        trades: list[PricePoint],
        metrics: set[Metric],
        span: TimeRange,
        interval_us: int | None,
        step: Decimal | None,
    ) -> InstrumentAggregation:
        wants_buckets = interval_us is not None and bool(
            metrics & {Metric.OHLCV, Metric.VWAP, Metric.TWAP}
        )
        return InstrumentAggregation(
            exchange=exchange,
            symbol=symbol,
            trade_count=len(trades),
            vwap=aggregations.vwap(trades) if Metric.VWAP in metrics else None,
            twap=aggregations.twap(trades, span.end_us) if Metric.TWAP in metrics else None,
            buckets=(
                tuple(aggregations.buckets(trades, interval_us, span))
                if wants_buckets and interval_us is not None
                else ()
            ),
            volume_profile=(
                tuple(aggregations.volume_profile(trades, step)) if step is not None else ()
            ),
        )
