"""The Athena named queries the Analytics stack saves, written once in Athena's (Trino) SQL.

Each is a template over the deployment's Glue database; ``named_queries`` fills in the database
(and, for queries that span exchanges, the configured exchanges).

VWAP multiplies price by quantity. Trino types DECIMAL(38, 18) x DECIMAL(38, 18) as
DECIMAL(38, 36), which overflows for any product of 100 or more, so both are first cast to
DECIMAL(30, 10): every DECIMAL(38, 18) value's 20 integer digits fit (the cast cannot overflow),
and 10 decimals hold every value either exchange publishes (``k2.domain.decimals``: Binance uses
8, Kraken up to 10), so the cast is exact for them. The product is DECIMAL(38, 20); its sum is
divided by the exact ``sum(quantity)`` (DECIMAL(38, 18)), giving DECIMAL(36, 20). (A cast to
DECIMAL(18, 8) would round Kraken's 9-10 decimal values and fail the whole query on one trade of
1e10 units or more, a common size for meme coins such as PEPEUSDT.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from k2.domain.markets import DataType, Exchange


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str


def named_queries(database: str, exchanges: Sequence[Exchange]) -> list[NamedQuery]:
    return [
        NamedQuery(
            "daily-vwap-by-symbol",
            "VWAP, volume and trade count per UTC day, exchange and symbol (last 7 days)",
            _DAILY_VWAP.format(database=database),
        ),
        NamedQuery(
            "dlq-rate-by-reason",
            "Records dead-lettered per hour, exchange and reason, against the records that "
            "reached bronze that hour; both by Kafka time, so a late silver run counts its "
            "records in the hour they arrived (last 24 hours)",
            _dlq_rate(database, exchanges),
        ),
        NamedQuery(
            "trade-id-gaps",
            "Holes in each symbol's trade-id sequence in gold (last 24 hours): trades the "
            "exchange published that K2 does not hold",
            _TRADE_ID_GAPS.format(database=database),
        ),
        NamedQuery(
            "freshness",
            "Newest gold trade per exchange and symbol, and its age in seconds",
            _FRESHNESS.format(database=database),
        ),
    ]


_DAILY_VWAP = """\
SELECT date_trunc('day', "timestamp") AS day,
       exchange,
       symbol,
       sum(CAST(price AS DECIMAL(30, 10)) * CAST(quantity AS DECIMAL(30, 10)))
         / sum(quantity) AS vwap,
       sum(quantity) AS volume,
       count(*) AS trades
FROM "{database}"."gold_crypto_trades"
WHERE "timestamp" >= current_timestamp - INTERVAL '7' DAY
GROUP BY 1, 2, 3
ORDER BY day DESC, exchange, symbol"""

_TRADE_ID_GAPS = """\
SELECT exchange,
       symbol,
       previous_trade_id,
       trade_id,
       trade_id - previous_trade_id - 1 AS missing_trades,
       previous_timestamp,
       "timestamp"
FROM (
  SELECT exchange,
         symbol,
         trade_id,
         "timestamp",
         lag(trade_id) OVER (PARTITION BY exchange, symbol ORDER BY trade_id) AS previous_trade_id,
         lag("timestamp") OVER (PARTITION BY exchange, symbol ORDER BY trade_id)
           AS previous_timestamp
  FROM "{database}"."gold_crypto_trades"
  WHERE "timestamp" >= current_timestamp - INTERVAL '1' DAY
) AS sequenced
WHERE trade_id - previous_trade_id > 1
ORDER BY missing_trades DESC, exchange, symbol"""

_FRESHNESS = """\
SELECT exchange,
       symbol,
       max("timestamp") AS newest_trade,
       date_diff('second', max("timestamp"), current_timestamp) AS age_seconds
FROM "{database}"."gold_crypto_trades"
GROUP BY exchange, symbol
ORDER BY age_seconds DESC"""


def _dlq_rate(database: str, exchanges: Sequence[Exchange]) -> str:
    # S608: the identifiers come from validated configuration (the database name from the
    # environment name's pattern, exchanges from the Exchange enum); a named query is saved SQL
    # text and cannot bind identifiers as parameters.
    bronze = "\n  UNION ALL\n".join(
        f"  SELECT '{exchange}' AS exchange, date_trunc('hour', kafka_timestamp) AS hour\n"  # noqa: S608
        f'  FROM "{database}"."bronze_{exchange}_{data_type}"\n'
        "  WHERE kafka_timestamp >= current_timestamp - INTERVAL '1' DAY"
        for exchange in exchanges
        for data_type in DataType
    )
    return _DLQ_RATE.format(bronze=bronze, database=database)


_DLQ_RATE = """\
WITH bronze AS (
{bronze}
),
received AS (
  SELECT exchange, hour, count(*) AS records FROM bronze GROUP BY exchange, hour
),
dead_lettered AS (
  SELECT exchange, date_trunc('hour', kafka_timestamp) AS hour, reason_class, count(*) AS records
  FROM "{database}"."silver_dlq"
  WHERE kafka_timestamp >= current_timestamp - INTERVAL '1' DAY
  GROUP BY exchange, date_trunc('hour', kafka_timestamp), reason_class
)
SELECT d.hour,
       d.exchange,
       d.reason_class,
       d.records AS dead_lettered,
       r.records AS received,
       CAST(d.records AS DOUBLE) / r.records AS dlq_rate
FROM dead_lettered AS d
LEFT JOIN received AS r ON r.exchange = d.exchange AND r.hour = d.hour
ORDER BY d.hour DESC, dlq_rate DESC"""
