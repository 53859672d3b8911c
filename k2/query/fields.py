"""What the engine may name in SQL: tables and columns come only from ``k2.lake`` definitions.

A caller chooses fields by name, but every name is checked against the table's allow-list (its
defined columns) and only then quoted into SQL; values never are (they are DuckDB parameters).
Each queryable table also says which column is its time (the partition source, so a time filter
prunes partitions) and the total order replay pages in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from k2.domain.markets import DataType
from k2.domain.ohlcv import Timeframe
from k2.lake.table_definition import TableDefinition
from k2.lake.tables import PARTITION_TIME, gold_quotes_table, gold_trades_table, ohlcv_table
from k2.query.errors import InvalidParameterError, UnknownFieldError


@dataclass(frozen=True)
class QueryableTable:
    """A table the engine reads, with the columns its queries rely on."""

    definition: TableDefinition
    time_column: str
    """Filtered by every time range: the table's time partition source."""
    order_key: tuple[str, ...]
    """A total order (unique per row): replay pages and ties are broken by it."""

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def fields(self) -> tuple[str, ...]:
        """The allow-list: the defined columns, in table order."""
        return tuple(column.name for column in self.definition.columns)

    def check_field(self, name: str) -> str:
        if not isinstance(name, str) or name not in self.fields:
            raise UnknownFieldError(
                f"unknown field {str(name)[:40]!r} for {self.name}; one of {', '.join(self.fields)}"
            )
        return name

    def select(
        self, requested: Iterable[str] | None, always: Iterable[str] = ()
    ) -> tuple[str, ...]:
        """The columns to read: ``requested`` (checked, de-duplicated, in the caller's order) or
        every column when None, plus ``always`` (columns the query itself needs)."""
        if requested is None:
            chosen = list(self.fields)
        else:
            chosen = list(dict.fromkeys(self.check_field(name) for name in requested))
            if not chosen:
                raise InvalidParameterError("fields must name at least one field")
        return tuple(dict.fromkeys([*chosen, *(self.check_field(name) for name in always)]))

    def identifier(self, name: str) -> str:
        """A column as a quoted SQL identifier; only allow-listed names get here."""
        return f'"{self.check_field(name)}"'


TRADES = QueryableTable(
    gold_trades_table(),
    time_column=PARTITION_TIME[DataType.TRADES],
    order_key=("timestamp", "exchange", "symbol", "trade_id"),
)
QUOTES = QueryableTable(
    gold_quotes_table(),
    time_column=PARTITION_TIME[DataType.QUOTES],
    order_key=("ingestion_timestamp", "exchange", "symbol", "message_id"),
)
BARS = {
    timeframe: QueryableTable(
        ohlcv_table(timeframe),
        time_column="window_start",
        order_key=("window_start", "exchange", "symbol"),
    )
    for timeframe in Timeframe
}
BY_DATA_TYPE = {DataType.TRADES: TRADES, DataType.QUOTES: QUOTES}


def for_data_type(data_type: str) -> QueryableTable:
    """``trades`` or ``quotes`` (case-insensitive) to its gold table."""
    try:
        return BY_DATA_TYPE[DataType(str(data_type).strip().lower())]
    except ValueError:
        raise InvalidParameterError(
            f"data_type must be trades or quotes, got {data_type!r}"
        ) from None


def bars_for(timeframe: str) -> QueryableTable:
    """``1m``/``5m``/``30m``/``1h``/``1d`` to its bar table."""
    try:
        return BARS[Timeframe(str(timeframe).strip().lower())]
    except ValueError:
        known = ", ".join(t.value for t in Timeframe)
        raise InvalidParameterError(
            f"timeframe must be one of {known}, got {timeframe!r}"
        ) from None
