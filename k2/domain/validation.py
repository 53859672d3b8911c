"""What silver checks before a record becomes silver, and why a record goes to ``silver_dlq``.

Two parts, both pure:

* **The reason taxonomy.** Every DLQ row carries a :class:`ReasonClass` (which stage refused the
  record) and a :class:`ReasonCode` (why, machine-readable, stable, countable). The pair is the
  key to count by: a few codes occur in two classes (``unknown_symbol`` from normalising means the
  exchange symbol cannot be split into assets; from validating, that the pair is not one K2 is
  configured to capture). Normalising reuses :attr:`k2.domain.errors.DomainError.reason` as is.
* **The business rules.** Each rule is a small function returning the :class:`Violation` s it
  finds (empty when the record passes). :func:`validate_trade` and :func:`validate_quote` run
  them all, in a fixed order, so the first violation is always the same one. Rules never raise,
  whatever the record holds: a broken record is reported, not thrown.

Time rules measure a record against its own ``ingestion_timestamp`` (when the feed handler
received it), never against the wall clock: validating the same bronze rows years later gives
exactly the same result, which a replay and a re-run need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from k2.domain.decimals import PRECISION, SCALE, check_fits
from k2.domain.errors import DomainError
from k2.domain.markets import Exchange
from k2.domain.quote import QuoteV2
from k2.domain.trade import Side, TradeV2


class ReasonClass(StrEnum):
    """The stage that refused a record, in the order silver runs them."""

    DECODE = "decode"
    """The bytes are not a Glue Schema Registry framed Avro record (or no bytes at all)."""
    SCHEMA = "schema"
    """The writer's schema version is unknown, or its record lacks what K2 needs."""
    NORMALISE = "normalise"
    """A value K2 cannot represent: a decimal out of range, an unknown symbol, a bad side..."""
    VALIDATE = "validate"
    """A representable record that breaks a business rule."""


class ReasonCode(StrEnum):
    """Why a record was refused. Values are stable: dashboards and alarms count them."""

    # decode
    MISSING_VALUE = "missing_value"
    NOT_FRAMED = "not_framed"
    BAD_COMPRESSION = "bad_compression"
    BAD_AVRO = "bad_avro"
    # schema
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    SCHEMA_VERSION_MISMATCH = "schema_version_mismatch"
    INCOMPATIBLE_SCHEMA = "incompatible_schema"
    # normalise: exactly the DomainError reasons (k2.domain.errors)
    INVALID_VALUE = "invalid_value"
    INVALID_DECIMAL = "invalid_decimal"
    DECIMAL_OUT_OF_RANGE = "decimal_out_of_range"
    INVALID_TIMESTAMP = "invalid_timestamp"
    UNKNOWN_SYMBOL = "unknown_symbol"
    INVALID_SIDE = "invalid_side"
    INVALID_IDENTIFIER = "invalid_identifier"
    # validate (and the DomainError codes above that a rule re-checks)
    UNKNOWN_EXCHANGE = "unknown_exchange"
    NON_POSITIVE_PRICE = "non_positive_price"
    NON_POSITIVE_QUANTITY = "non_positive_quantity"
    CROSSED_BOOK = "crossed_book"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_BEFORE_EARLIEST = "timestamp_before_earliest"


REASON_CODES: Mapping[ReasonClass, frozenset[ReasonCode]] = {
    ReasonClass.DECODE: frozenset(
        {
            ReasonCode.MISSING_VALUE,
            ReasonCode.NOT_FRAMED,
            ReasonCode.BAD_COMPRESSION,
            ReasonCode.BAD_AVRO,
        }
    ),
    ReasonClass.SCHEMA: frozenset(
        {
            ReasonCode.UNKNOWN_SCHEMA_VERSION,
            ReasonCode.SCHEMA_VERSION_MISMATCH,
            ReasonCode.INCOMPATIBLE_SCHEMA,
        }
    ),
    ReasonClass.NORMALISE: frozenset(
        {
            ReasonCode.INVALID_VALUE,
            ReasonCode.INVALID_DECIMAL,
            ReasonCode.DECIMAL_OUT_OF_RANGE,
            ReasonCode.INVALID_TIMESTAMP,
            ReasonCode.UNKNOWN_SYMBOL,
            ReasonCode.INVALID_SIDE,
            ReasonCode.INVALID_IDENTIFIER,
        }
    ),
    ReasonClass.VALIDATE: frozenset(
        {
            ReasonCode.UNKNOWN_EXCHANGE,
            ReasonCode.UNKNOWN_SYMBOL,
            ReasonCode.INVALID_SIDE,
            ReasonCode.INVALID_DECIMAL,
            ReasonCode.DECIMAL_OUT_OF_RANGE,
            ReasonCode.NON_POSITIVE_PRICE,
            ReasonCode.NON_POSITIVE_QUANTITY,
            ReasonCode.CROSSED_BOOK,
            ReasonCode.TIMESTAMP_IN_FUTURE,
            ReasonCode.TIMESTAMP_TOO_OLD,
            ReasonCode.TIMESTAMP_BEFORE_EARLIEST,
        }
    ),
}
"""The codes each class can carry."""


def reason_code(error: DomainError) -> ReasonCode:
    """The normalise-class code of a :class:`DomainError`; ``invalid_value`` for a reason this
    taxonomy does not list yet (a new error class must not crash silver, only count coarsely)."""
    try:
        code = ReasonCode(error.reason)
    except ValueError:
        return ReasonCode.INVALID_VALUE
    if code in REASON_CODES[ReasonClass.NORMALISE]:
        return code
    return ReasonCode.INVALID_VALUE


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: a stable code, the field it concerns, and a message for people."""

    code: ReasonCode
    field: str
    message: str


MICROS_PER_SECOND = 1_000_000
MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND

EARLIEST_TIMESTAMP_US = 1_230_940_800 * MICROS_PER_SECOND
"""2009-01-03T00:00:00Z, the day of the Bitcoin genesis block: no crypto trade is older."""

DEFAULT_FUTURE_TOLERANCE_US = 5 * MICROS_PER_SECOND
"""How far an exchange time may run ahead of the receiving host's clock (clock skew)."""

DEFAULT_MAX_AGE_US = 30 * MICROS_PER_DAY
"""How much older than its receipt a record may be.

Legitimately late records are the Kraken trade snapshot on subscribe (the latest 50 trades) and
REST backfill of a gap after an outage. A restarted handler resumes from the tail of its raw
topic, which keeps records 7 days (``retention.ms``) and, since Kafka deletes whole segments
(``segment.ms`` defaults to 7 days too), up to about 14 days. So a backfilled trade can be about
two weeks older than its receipt; 30 days clears that with margin, and still refuses a time that
is wrong by a month or more (a wrong year, a stale cache). Unit errors (seconds or milliseconds
read as microseconds) land decades off and are caught by :data:`EARLIEST_TIMESTAMP_US` or the
future tolerance anyway. A deliberate historical load should pass its own, wider policy.
"""

DEFAULT_INSTRUMENTS: frozenset[tuple[Exchange, str]] = frozenset(
    {
        (Exchange.BINANCE, "BTCUSDT"),
        (Exchange.BINANCE, "ETHUSDT"),
        (Exchange.KRAKEN, "BTCUSD"),
        (Exchange.KRAKEN, "ETHUSD"),
    }
)
"""The (exchange, normalised symbol) pairs K2 captures by default."""


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """What the rules accept. Times are microseconds; symbols are normalised (``BTCUSD``)."""

    instruments: frozenset[tuple[Exchange, str]] = DEFAULT_INSTRUMENTS
    future_tolerance_us: int = DEFAULT_FUTURE_TOLERANCE_US
    max_age_us: int = DEFAULT_MAX_AGE_US
    earliest_us: int = EARLIEST_TIMESTAMP_US

    def __post_init__(self) -> None:
        pairs = frozenset((Exchange(exchange), symbol) for exchange, symbol in self.instruments)
        object.__setattr__(self, "instruments", pairs)
        for name in ("future_tolerance_us", "max_age_us", "earliest_us"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")

    @classmethod
    def for_instruments(
        cls, instruments: Iterable[tuple[Exchange | str, str]], **limits: int
    ) -> ValidationPolicy:
        """A policy for other pairs, e.g. from configuration: ``[("binance", "SOLUSDT")]``."""
        pairs = frozenset((Exchange(exchange), symbol) for exchange, symbol in instruments)
        return cls(pairs, **limits)

    @property
    def exchanges(self) -> frozenset[Exchange]:
        return frozenset(exchange for exchange, _ in self.instruments)


DEFAULT_POLICY = ValidationPolicy()


def describe_time(micros: int) -> str:
    """A microsecond timestamp for a message: RFC 3339 when a datetime can hold it."""
    try:
        instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    except OverflowError:
        return f"{micros} us since the epoch"
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seconds(micros: int) -> str:
    return f"{Decimal(micros).scaleb(-6).normalize():f} s"


# --- the rules ---------------------------------------------------------------------------------


def check_instrument(exchange: Exchange, symbol: str, policy: ValidationPolicy) -> list[Violation]:
    """The exchange is one K2 captures, and the normalised symbol one it captures there."""
    if exchange not in policy.exchanges:
        known = ", ".join(sorted(policy.exchanges))
        return [
            Violation(
                ReasonCode.UNKNOWN_EXCHANGE,
                "exchange",
                f"exchange {str(exchange)[:40]!r} is not captured (known: {known})",
            )
        ]
    if (exchange, symbol) not in policy.instruments:
        known = ", ".join(sorted(s for e, s in policy.instruments if e == exchange))
        return [
            Violation(
                ReasonCode.UNKNOWN_SYMBOL,
                "symbol",
                f"symbol {symbol[:40]!r} is not captured on {exchange} (known: {known})",
            )
        ]
    return []


def check_side(side: Side) -> list[Violation]:
    """The taker side is BUY or SELL."""
    try:
        Side(side)
    except (ValueError, TypeError):
        return [
            Violation(ReasonCode.INVALID_SIDE, "side", f"side {str(side)[:20]!r} is not BUY/SELL")
        ]
    return []


def check_decimal(field: str, value: Decimal) -> list[Violation]:
    """The value is finite and ``decimal(38, 18)`` holds it exactly (never rounded)."""
    try:
        check_fits(value)
    except DomainError as exc:
        return [Violation(reason_code(exc), field, f"{field}: {exc}")]
    except (AttributeError, TypeError):
        return [
            Violation(
                ReasonCode.INVALID_DECIMAL,
                field,
                f"{field} is {type(value).__name__}, not decimal({PRECISION},{SCALE})",
            )
        ]
    return []


def check_positive(field: str, value: Decimal, code: ReasonCode) -> list[Violation]:
    """The value is greater than zero. A non-finite value is :func:`check_decimal`'s to report."""
    if not isinstance(value, Decimal) or not value.is_finite() or value > 0:
        return []
    return [Violation(code, field, f"{field} {value:f} is not positive")]


def check_not_before_earliest(field: str, value: int, policy: ValidationPolicy) -> list[Violation]:
    """No time in crypto market data predates the Bitcoin genesis block."""
    if value < policy.earliest_us:
        return [
            Violation(
                ReasonCode.TIMESTAMP_BEFORE_EARLIEST,
                field,
                f"{field} {describe_time(value)} is before {describe_time(policy.earliest_us)}",
            )
        ]
    return []


def check_timestamp(
    field: str, value: int, ingestion_timestamp: int, policy: ValidationPolicy
) -> list[Violation]:
    """An exchange time is after the earliest possible time, at most ``future_tolerance_us``
    after its receipt, and at most ``max_age_us`` before it. Reports the first that fails."""
    before = check_not_before_earliest(field, value, policy)
    if before:
        return before
    ahead = value - ingestion_timestamp
    if ahead > policy.future_tolerance_us:
        return [
            Violation(
                ReasonCode.TIMESTAMP_IN_FUTURE,
                field,
                f"{field} {describe_time(value)} is {_seconds(ahead)} after it was received "
                f"({describe_time(ingestion_timestamp)}); tolerance "
                f"{_seconds(policy.future_tolerance_us)}",
            )
        ]
    if -ahead > policy.max_age_us:
        return [
            Violation(
                ReasonCode.TIMESTAMP_TOO_OLD,
                field,
                f"{field} {describe_time(value)} is {_seconds(-ahead)} before it was received "
                f"({describe_time(ingestion_timestamp)}); limit {_seconds(policy.max_age_us)}",
            )
        ]
    return []


def check_book(bid_price: Decimal, ask_price: Decimal) -> list[Violation]:
    """The best bid is not above the best ask (equal, a locked book, is allowed). Judged only
    between two positive prices: a zero or broken price is reported by its own rule."""
    usable = all(isinstance(p, Decimal) and p.is_finite() and p > 0 for p in (bid_price, ask_price))
    if usable and bid_price > ask_price:
        return [
            Violation(
                ReasonCode.CROSSED_BOOK,
                "bid_price",
                f"crossed book: bid {bid_price:f} is above ask {ask_price:f}",
            )
        ]
    return []


# --- whole records -----------------------------------------------------------------------------


def validate_trade(trade: TradeV2, policy: ValidationPolicy = DEFAULT_POLICY) -> list[Violation]:
    """Every rule a trade breaks, in a fixed order; empty when it may become silver."""
    return [
        *check_instrument(trade.exchange, trade.symbol, policy),
        *check_side(trade.side),
        *check_decimal("price", trade.price),
        *check_decimal("quantity", trade.quantity),
        *check_positive("price", trade.price, ReasonCode.NON_POSITIVE_PRICE),
        *check_positive("quantity", trade.quantity, ReasonCode.NON_POSITIVE_QUANTITY),
        *check_timestamp("timestamp", trade.timestamp, trade.ingestion_timestamp, policy),
        *check_not_before_earliest("ingestion_timestamp", trade.ingestion_timestamp, policy),
    ]


def validate_quote(quote: QuoteV2, policy: ValidationPolicy = DEFAULT_POLICY) -> list[Violation]:
    """Every rule a best bid/ask update breaks, in a fixed order; empty when it may become silver.

    A quote without an exchange time (Binance spot ``bookTicker``) has no time to check beyond
    its receipt.
    """
    violations = [*check_instrument(quote.exchange, quote.symbol, policy)]
    prices = (("bid_price", quote.bid_price), ("ask_price", quote.ask_price))
    quantities = (("bid_quantity", quote.bid_quantity), ("ask_quantity", quote.ask_quantity))
    for field, value in (*prices, *quantities):
        violations += check_decimal(field, value)
    for field, value in prices:
        violations += check_positive(field, value, ReasonCode.NON_POSITIVE_PRICE)
    for field, value in quantities:
        violations += check_positive(field, value, ReasonCode.NON_POSITIVE_QUANTITY)
    violations += check_book(quote.bid_price, quote.ask_price)
    if quote.exchange_timestamp is not None:
        violations += check_timestamp(
            "exchange_timestamp", quote.exchange_timestamp, quote.ingestion_timestamp, policy
        )
    violations += check_not_before_earliest(
        "ingestion_timestamp", quote.ingestion_timestamp, policy
    )
    return violations
