"""Deterministic ids: the same trade always gets the same id, on every replay and re-run.

``message_id`` is the SHA-256 (lower-case hex) of the UTF-8 text ``exchange|symbol|key`` where
``exchange`` is the lower-case exchange name, ``symbol`` the normalised symbol and ``key`` the
exchange's own id (the trade id, for trades). Spark reproduces it exactly with
``sha2(concat_ws('|', exchange, symbol, cast(trade_id as string)), 256)``.
"""

from __future__ import annotations

import hashlib

from k2.domain.errors import InvalidIdentifierError
from k2.domain.markets import Exchange

SEPARATOR = "|"


def deterministic_id(exchange: Exchange, symbol: str, key: str) -> str:
    """SHA-256 hex of ``exchange|symbol|key``; ``symbol`` may not contain the separator, so the
    text always splits back into the same three parts (``key`` is last and may)."""
    if not symbol or SEPARATOR in symbol:
        raise InvalidIdentifierError(f"symbol unusable in an id: {symbol[:40]!r}")
    text = SEPARATOR.join((exchange.value, symbol, key))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trade_message_id(exchange: Exchange, symbol: str, trade_id: int) -> str:
    """The id of a trade: a hash of (exchange, normalised symbol, exchange trade id)."""
    if isinstance(trade_id, bool) or not isinstance(trade_id, int) or trade_id < 0:
        raise InvalidIdentifierError(f"trade id must be a non-negative integer: {trade_id!r}")
    return deterministic_id(exchange, symbol, str(trade_id))


def quote_message_id(exchange: Exchange, symbol: str, quote_key: str) -> str:
    """The id of a best bid/ask update; ``quote_key`` is built by the exchange adapter from the
    exchange's own update id, or from the update's timestamp and values when it has none."""
    if not quote_key:
        raise InvalidIdentifierError("empty quote key")
    return deterministic_id(exchange, symbol, f"quote:{quote_key}")
