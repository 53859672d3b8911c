"""OHLCV bars as Spark expressions, the same definitions as ``k2.domain.ohlcv``.

Window alignment, the (timestamp, trade_id) order that picks open and close, and the roll-up
rule come from the domain module's definitions; the two decimal operations Spark cannot do
exactly at decimal(38, 18) -- price x quantity (Spark would round the product to 6 places) and
notional / volume -- call the domain's own functions in vectorised UDFs, so Spark and the API
compute the same digits. (Products of values with at most 8 decimal places, all that the
exchanges publish, Spark computes exactly itself: see :func:`with_notional`.)
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.functions import pandas_udf
from pyspark.sql.types import DecimalType

from k2.domain.decimals import PRECISION, SCALE, stored_decimal
from k2.domain.ohlcv import Timeframe, trade_notional, vwap

BAR_KEY = ["exchange", "symbol", "window_start"]
EXACT = DecimalType(PRECISION, SCALE)


def _notionals(price: pd.Series, quantity: pd.Series) -> pd.Series:
    """Exact price x quantity per trade; a product decimal(38, 18) cannot hold fails the job."""
    products = (trade_notional(p, q) for p, q in zip(price, quantity, strict=True))
    return pd.Series([stored_decimal(product) for product in products])


def _vwaps(notional: pd.Series, volume: pd.Series) -> pd.Series:
    return pd.Series([stored_decimal(vwap(n, v)) for n, v in zip(notional, volume, strict=True)])


notional_of = pandas_udf(_notionals, EXACT)  # type: ignore[call-overload]
vwap_of = pandas_udf(_vwaps, EXACT)  # type: ignore[call-overload]


# Both exchanges publish prices and quantities with at most 8 decimal places, and at that scale
# Spark multiplies exactly: decimal(18,8) * decimal(18,8) is decimal(37,16), no rounding, and the
# product (< 10^20) fits decimal(38,18). Only trades outside it pay for the Python UDF.
NATIVE_OPERAND = "DECIMAL(18,8)"


def with_notional(trades: DataFrame) -> DataFrame:
    """``trades`` with the exact ``notional`` = price x quantity of each trade.

    The rows are split rather than choosing per row with ``when``: Spark evaluates a Python UDF
    on every row of its input, whatever condition surrounds it.
    """
    price = F.expr(f"try_cast(price AS {NATIVE_OPERAND})")
    quantity = F.expr(f"try_cast(quantity AS {NATIVE_OPERAND})")
    native = F.coalesce((price == F.col("price")) & (quantity == F.col("quantity")), F.lit(False))
    fast = trades.where(native).withColumn("notional", (price * quantity).cast(EXACT))
    slow = trades.where(~native).withColumn("notional", notional_of("price", "quantity"))
    return fast.unionByName(slow)


def window_start_of(time: Column, timeframe: Timeframe) -> Column:
    """The start of the window holding ``time``, aligned to the UTC epoch (floor, as the domain)."""
    micros = F.unix_micros(time)
    return F.timestamp_micros(micros - F.pmod(micros, F.lit(timeframe.micros)))


def _with_window_end_and_vwap(bars: DataFrame, timeframe: Timeframe) -> DataFrame:
    window_end = F.timestamp_micros(F.unix_micros("window_start") + F.lit(timeframe.micros))
    return bars.withColumn("window_end", window_end).withColumn(
        "vwap", vwap_of("notional", "volume")
    )


BAR_COLUMNS = [
    *BAR_KEY,
    "window_end",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "notional",
    "vwap",
    "trade_count",
    "first_trade_id",
    "first_trade_time",
    "last_trade_id",
    "last_trade_time",
]


def bars_from_trades(trades: DataFrame, timeframe: Timeframe) -> DataFrame:
    """Bars of gold trades (``exchange, symbol, trade_id, timestamp, price, quantity``).

    Open and close are the prices of the least and greatest (timestamp, trade_id): a struct's
    ordering is field by field, so min/max of the struct picks exactly those trades, whatever
    order Spark reads the rows in.
    """
    ordered = F.struct("timestamp", "trade_id", "price")
    bars = (
        with_notional(trades)
        .withColumn("window_start", window_start_of(F.col("timestamp"), timeframe))
        .groupBy(*BAR_KEY)
        .agg(
            F.min(ordered).alias("first"),
            F.max(ordered).alias("last"),
            F.max("price").alias("high"),
            F.min("price").alias("low"),
            F.sum("quantity").cast(EXACT).alias("volume"),
            F.sum("notional").cast(EXACT).alias("notional"),
            F.count(F.lit(1)).alias("trade_count"),
        )
        .select(
            *BAR_KEY,
            F.col("first.price").alias("open"),
            "high",
            "low",
            F.col("last.price").alias("close"),
            "volume",
            "notional",
            "trade_count",
            F.col("first.trade_id").alias("first_trade_id"),
            F.col("first.timestamp").alias("first_trade_time"),
            F.col("last.trade_id").alias("last_trade_id"),
            F.col("last.timestamp").alias("last_trade_time"),
        )
    )
    return _with_window_end_and_vwap(bars, timeframe).select(*BAR_COLUMNS)


def rolled_up(bars: DataFrame, timeframe: Timeframe) -> DataFrame:
    """Coarser bars from finer ones: open of the first, close of the last, extremes, sums."""
    first = F.struct("first_trade_time", "first_trade_id", "open")
    last = F.struct("last_trade_time", "last_trade_id", "close")
    coarse = (
        bars.withColumn("window_start", window_start_of(F.col("window_start"), timeframe))
        .groupBy(*BAR_KEY)
        .agg(
            F.min(first).alias("first"),
            F.max(last).alias("last"),
            F.max("high").alias("high"),
            F.min("low").alias("low"),
            F.sum("volume").cast(EXACT).alias("volume"),
            F.sum("notional").cast(EXACT).alias("notional"),
            F.sum("trade_count").alias("trade_count"),
        )
        .select(
            *BAR_KEY,
            F.col("first.open").alias("open"),
            "high",
            "low",
            F.col("last.close").alias("close"),
            "volume",
            "notional",
            "trade_count",
            F.col("first.first_trade_id").alias("first_trade_id"),
            F.col("first.first_trade_time").alias("first_trade_time"),
            F.col("last.last_trade_id").alias("last_trade_id"),
            F.col("last.last_trade_time").alias("last_trade_time"),
        )
    )
    return _with_window_end_and_vwap(coarse, timeframe).select(*BAR_COLUMNS)
