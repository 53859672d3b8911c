"""Properties of both parsers on random, truncated and mutated frames.

Whatever arrives, a parser returns a frame or raises FrameParseError; no record ever holds a
float; and a record that parsed either normalises or raises a DomainError with a reason.
"""

import json
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k2.domain.errors import DomainError
from k2.feeds import binance, kraken
from k2.feeds.frame_errors import FrameParseError
from k2.feeds.frames import ParsedFrame
from tests.fixtures.exchanges.fixture_frames import all_fixture_frames

pytestmark = pytest.mark.unit

RECEIVED = 1737500000530000


def parse_binance(data: bytes) -> ParsedFrame[Any, Any]:
    return binance.parse_frame(data, received_at_us=RECEIVED)


def parse_kraken(data: bytes) -> ParsedFrame[Any, Any]:
    return kraken.parse_frame(data, received_at_us=RECEIVED)


PARSERS: dict[str, tuple[Callable[[bytes], ParsedFrame[Any, Any]], Any, Any]] = {
    "binance": (parse_binance, binance.to_trade_v2, binance.to_quote_v2),
    "kraken": (parse_kraken, kraken.to_trade_v2, kraken.to_quote_v2),
}


def assert_no_float(value: object) -> None:
    assert not isinstance(value, float), f"float in a record: {value!r}"
    if is_dataclass(value) and not isinstance(value, type):
        for field in fields(value):
            assert_no_float(getattr(value, field.name))
    elif isinstance(value, tuple | list):
        for item in value:
            assert_no_float(item)


def check(exchange: str, data: bytes) -> None:
    """The whole contract for one frame."""
    parse, to_trade, to_quote = PARSERS[exchange]
    try:
        parsed = parse(data)
    except FrameParseError as error:
        assert error.raw == data
        return
    assert isinstance(parsed, ParsedFrame)
    assert_no_float(parsed)
    for raw, normalise in [(t, to_trade) for t in parsed.trades] + [
        (q, to_quote) for q in parsed.quotes
    ]:
        try:
            record = normalise(raw)
        except DomainError as error:
            assert error.reason
            continue
        assert_no_float(record)
        decimals = [getattr(record, f.name) for f in fields(record)]
        assert any(isinstance(value, Decimal) for value in decimals)


@pytest.mark.parametrize("exchange", sorted(PARSERS))
@given(data=st.binary(max_size=400))
def test_random_bytes(exchange: str, data: bytes) -> None:
    check(exchange, data)


@pytest.mark.parametrize("exchange", sorted(PARSERS))
def test_every_fixture_satisfies_the_contract(exchange: str) -> None:
    for frame in all_fixture_frames(exchange):
        check(exchange, frame)


@pytest.mark.parametrize("exchange", sorted(PARSERS))
def test_every_truncation_of_every_fixture(exchange: str) -> None:
    for frame in all_fixture_frames(exchange):
        for end in range(len(frame)):
            check(exchange, frame[:end])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["0.1", "1e-30", "BTC/USD", "BTCUSDT", "buy", "sell", "trade", "update"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def mutate(document: Any, path: tuple[object, ...], replacement: object, delete: bool) -> None:
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement


@pytest.mark.parametrize("exchange", sorted(PARSERS))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(choice=st.data())
def test_mutated_fixtures(exchange: str, choice: st.DataObject) -> None:
    frame = choice.draw(st.sampled_from(all_fixture_frames(exchange)))
    try:
        document = json.loads(frame)
    except ValueError:
        return  # the deliberately malformed fixtures
    candidates = paths(document)
    if not candidates:
        return
    for _ in range(choice.draw(st.integers(min_value=1, max_value=3))):
        candidates = paths(document)
        if not candidates:
            break
        path = choice.draw(st.sampled_from(candidates))
        mutate(document, path, choice.draw(json_values), choice.draw(st.booleans()))
    check(exchange, json.dumps(document).encode())


@pytest.mark.parametrize("exchange", sorted(PARSERS))
@given(number=st.floats(allow_nan=False, allow_infinity=False))
def test_float_shaped_numbers_never_become_floats(exchange: str, number: float) -> None:
    """Kraken prices arrive as JSON numbers; whatever their spelling, they stay text/Decimal."""
    text = json.dumps(number)
    data = (
        '{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy",'
        f'"price":{text},"qty":1,"ord_type":"limit","trade_id":1,'
        '"timestamp":"2025-01-21T22:53:20Z"}]}'
    ).encode()
    check(exchange, data)
    if exchange == "kraken":
        (raw,) = parse_kraken(data).trades
        assert raw.price == text
