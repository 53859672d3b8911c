"""Kafka's raw trades against the exchange simulator's ground truth: nothing missing, none twice.

Both sides are brought to the same terms (exchange, exchange symbol, trade id, exact price and
quantity, trade time in microseconds, taker side) and compared per symbol over the id window a
run published: every trade the market made inside the window must be in Kafka exactly once with
equal fields.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from k2.domain.markets import Exchange
from k2.domain.timestamps import avro_micros, rfc3339_to_micros


@dataclass(frozen=True, slots=True)
class ComparableTrade:
    exchange: Exchange
    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    time_us: int
    side: str


def published_trade(exchange: Exchange, record: dict[str, Any]) -> ComparableTrade:
    """A decoded raw trade record (Binance or Kraken schema) in ground-truth terms."""
    if exchange is Exchange.BINANCE:
        return ComparableTrade(
            exchange,
            record["symbol"],
            record["trade_id"],
            Decimal(record["price"]),
            Decimal(record["quantity"]),
            avro_micros(record["trade_time"]),
            "sell" if record["is_buyer_maker"] else "buy",  # buyer was maker: the taker sold
        )
    return ComparableTrade(
        exchange,
        record["symbol"],
        record["trade_id"],
        Decimal(record["price"]),
        Decimal(record["qty"]),
        rfc3339_to_micros(record["timestamp"]),
        record["side"],
    )


def ground_truth_trade(line: dict[str, Any]) -> ComparableTrade:
    return ComparableTrade(
        Exchange(line["exchange"]),
        line["symbol"],
        line["trade_id"],
        Decimal(line["price"]),
        Decimal(line["qty"]),
        line["time_us"],
        line["side"],
    )


def read_ground_truth(path: Path) -> list[ComparableTrade]:
    with path.open(encoding="utf-8") as lines:
        return [ground_truth_trade(json.loads(line)) for line in lines if line.strip()]


@dataclass
class SymbolReconciliation:
    exchange: Exchange
    symbol: str
    first_id: int
    last_id: int
    made: int = 0
    published: int = 0
    missing: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    different: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.duplicated or self.different or self.unknown)


def reconcile(
    made: Iterable[ComparableTrade], published: Iterable[ComparableTrade]
) -> list[SymbolReconciliation]:
    """Per symbol, over the ids from the first to the last one published."""
    by_symbol: defaultdict[tuple[Exchange, str], list[ComparableTrade]] = defaultdict(list)
    for trade in published:
        by_symbol[(trade.exchange, trade.symbol)].append(trade)
    truth: defaultdict[tuple[Exchange, str], dict[int, ComparableTrade]] = defaultdict(dict)
    for trade in made:
        truth[(trade.exchange, trade.symbol)][trade.trade_id] = trade
    results = []
    for (exchange, symbol), trades in sorted(by_symbol.items()):
        ids = Counter(trade.trade_id for trade in trades)
        result = SymbolReconciliation(exchange, symbol, min(ids), max(ids))
        expected = {
            trade_id: trade
            for trade_id, trade in truth[(exchange, symbol)].items()
            if result.first_id <= trade_id <= result.last_id
        }
        result.made = len(expected)
        result.published = len(trades)
        result.duplicated = sorted(trade_id for trade_id, n in ids.items() if n > 1)
        result.missing = sorted(set(expected) - set(ids))
        result.unknown = sorted(set(ids) - set(expected))
        result.different = sorted(
            trade.trade_id
            for trade in trades
            if trade.trade_id in expected and expected[trade.trade_id] != trade
        )
        results.append(result)
    return results
