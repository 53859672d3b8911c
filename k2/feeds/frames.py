"""What a frame parser returns, and the strict JSON reading both exchange parsers share.

JSON numbers are never turned into floats: every number is kept as :class:`JsonNumber`, the
literal text as sent, and only becomes an ``int`` (ids, epoch times) or decimal text (prices,
quantities) once the parser knows which one the field must be.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, NoReturn, TypeVar

from k2.domain.decimals import is_decimal_text
from k2.domain.markets import Exchange
from k2.feeds.frame_errors import FrameParseError

TradeT = TypeVar("TradeT")
QuoteT = TypeVar("QuoteT")

INT64_MAX = 2**63 - 1
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,20}")


class ControlKind(StrEnum):
    """Frames that carry no market data but tell the session something."""

    HEARTBEAT = "heartbeat"
    STATUS = "status"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    ACK = "ack"
    PONG = "pong"
    ERROR = "error"
    SERVER_SHUTDOWN = "server_shutdown"


@dataclass(frozen=True, slots=True)
class Control:
    """A non-data message: a heartbeat, a status, an acknowledgement, or an error report."""

    kind: ControlKind
    detail: str = ""
    channel: str | None = None
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFrame(Generic[TradeT, QuoteT]):
    """One frame's content: raw trades and quotes (possibly several), or one control message.

    ``snapshot`` is true when the exchange marked the data as a replay of recent history on
    subscribe (Kraken); the records are still real trades, deduplicated downstream by trade id.
    """

    trades: tuple[TradeT, ...] = ()
    quotes: tuple[QuoteT, ...] = ()
    control: Control | None = None
    snapshot: bool = False


class JsonNumber(str):
    """The literal text of a JSON number, exactly as the exchange sent it."""

    __slots__ = ()


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"JSON constant {name} is not a number")


class FrameReader:
    """Reads one frame's JSON and its fields, turning every defect into a :class:`FrameParseError`
    that carries the frame's raw bytes."""

    def __init__(self, exchange: Exchange, frame: bytes | str) -> None:
        self.exchange = exchange
        self.raw = frame if isinstance(frame, bytes) else frame.encode("utf-8", "surrogatepass")

    def fail(self, reason: str) -> NoReturn:
        raise FrameParseError(self.exchange, self.raw, reason)

    def load_object(self) -> dict[str, Any]:
        """The frame as a JSON object; any other JSON value or invalid text fails."""
        try:
            value = json.loads(
                self.raw.decode("utf-8"),
                parse_float=JsonNumber,
                parse_int=JsonNumber,
                parse_constant=_refuse_constant,
            )
        except (ValueError, RecursionError) as exc:
            self.fail(f"invalid JSON: {exc}")
        return self.as_object(value, "frame")

    def as_object(self, value: object, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(f"{what} is not a JSON object")
        return value

    def as_array(self, value: object, what: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(f"{what} is not a JSON array")
        return value

    def require(self, obj: Mapping[str, Any], key: str) -> Any:
        if key not in obj:
            self.fail(f"missing field {key!r}")
        return obj[key]

    def string(self, obj: Mapping[str, Any], key: str) -> str:
        value = self.require(obj, key)
        if type(value) is not str:
            self.fail(f"field {key!r} is not a string")
        return value

    def optional_string(self, obj: Mapping[str, Any], key: str) -> str | None:
        if obj.get(key) is None:
            return None
        return self.string(obj, key)

    def boolean(self, obj: Mapping[str, Any], key: str) -> bool:
        value = self.require(obj, key)
        if type(value) is not bool:
            self.fail(f"field {key!r} is not a boolean")
        return value

    def optional_boolean(self, obj: Mapping[str, Any], key: str) -> bool | None:
        if obj.get(key) is None:
            return None
        return self.boolean(obj, key)

    def integer(self, obj: Mapping[str, Any], key: str) -> int:
        """A non-negative integer that fits Avro ``long`` (ids and epoch times)."""
        value = self.require(obj, key)
        if not isinstance(value, JsonNumber) or not _INTEGER_TEXT.fullmatch(value):
            self.fail(f"field {key!r} is not an integer")
        number = int(value)
        if not 0 <= number <= INT64_MAX:
            self.fail(f"field {key!r} is outside 0..2^63-1")
        return number

    def optional_integer(self, obj: Mapping[str, Any], key: str) -> int | None:
        if obj.get(key) is None:
            return None
        return self.integer(obj, key)

    def decimal_text(self, obj: Mapping[str, Any], key: str) -> str:
        """A decimal as text exactly as sent, whether the exchange wrote a JSON string (Binance)
        or a JSON number (Kraken v2)."""
        value = self.require(obj, key)
        if not isinstance(value, str) or not is_decimal_text(value):
            self.fail(f"field {key!r} is not a decimal")
        return str(value)

    def optional_decimal_text(self, obj: Mapping[str, Any], key: str) -> str | None:
        if obj.get(key) is None:
            return None
        return self.decimal_text(obj, key)
