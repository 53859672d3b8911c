"""Records as the Avro-ready dicts the producer serialises, and the schema each one uses.

Field names in ``schemas/*.avsc`` are the dataclass field names, so the mapping is mechanical;
only enums change form (``Exchange`` to its lower-case value, ``Side`` to its symbol). Decimals
stay ``Decimal`` (fastavro writes them as Avro ``decimal``), timestamps stay integer micros.
"""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any

from k2.domain.quote import QuoteV2
from k2.domain.trade import TradeV2
from k2.feeds.binance import BinanceRawQuote, BinanceRawTrade
from k2.feeds.kraken import KrakenRawQuote, KrakenRawTrade

RawRecord = BinanceRawTrade | BinanceRawQuote | KrakenRawTrade | KrakenRawQuote
AvroRecord = RawRecord | TradeV2 | QuoteV2

TRADE_V2_SCHEMA = "trade_v2"
QUOTE_V2_SCHEMA = "quote_v2"


def schema_name(record: AvroRecord) -> str:
    """The name of the ``schemas/`` file (and registry schema) ``record`` is written with."""
    if isinstance(record, TradeV2):
        return TRADE_V2_SCHEMA
    if isinstance(record, QuoteV2):
        return QUOTE_V2_SCHEMA
    return record.AVRO_SCHEMA


def avro_record(record: AvroRecord) -> dict[str, Any]:
    """The record as a dict that ``fastavro`` writes with the schema named by
    :func:`schema_name`, field for field."""
    result: dict[str, Any] = {}
    for field in fields(record):
        value = getattr(record, field.name)
        result[field.name] = value.value if isinstance(value, Enum) else value
    return result
