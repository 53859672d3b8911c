"""Binance REST backfill: the pure parser on bodies written here, the HTTP client's retries on a
scripted local server, and whole fetches against the exchange simulator, reconciled with its
ground truth (an independent record of every trade the simulated market made)."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from k2.domain.markets import Exchange
from k2.domain.timestamps import TimeUnit
from k2.feeds.binance import BinanceRawTrade
from k2.feeds.binance_rest import BinanceTradeBackfill, parse_historical_trades
from k2.feeds.frame_errors import FrameParseError
from k2.feeds.rest_client import BackfillError, RetryPolicy, parse_retry_after
from k2.local.exchange_simulator import ExchangeSimulator
from tests.feeds.rest_testkit import (
    FAST,
    RECEIVED,
    Reply,
    ScriptedServer,
    Sleeps,
    backfill_around_skipped_trades,
    clock,
    query,
    run,
)

pytestmark = pytest.mark.unit


def rows_body(*ids: int) -> bytes:
    """A historicalTrades answer with one row per id (microsecond times)."""
    rows = [
        {
            "id": trade_id,
            "price": "100.00000000",
            "qty": "1.00000000",
            "quoteQty": "100.00000000",
            "time": 1737500000000000 + trade_id,
            "isBuyerMaker": trade_id % 2 == 0,
            "isBestMatch": True,
        }
        for trade_id in ids
    ]
    return json.dumps(rows).encode()


# -- the pure parser ------------------------------------------------------------------------------

# The response example of "Old trade lookup" in binance-spot-api-docs rest-api.md (milliseconds,
# the default unit). 1499865549 s is 2017-07-12T13:19:09Z (GNU date -u -d @1499865549).
DOC_EXAMPLE = b"""[
  {
    "id": 28457,
    "price": "4.00000100",
    "qty": "12.00000000",
    "quoteQty": "48.000012",
    "time": 1499865549590,
    "isBuyerMaker": true,
    "isBestMatch": true
  }
]"""


def test_doc_example_in_milliseconds_becomes_microseconds() -> None:
    trades = parse_historical_trades(DOC_EXAMPLE, symbol="BNBBTC", received_at_us=RECEIVED)
    assert trades == [
        BinanceRawTrade(
            event_type="trade",
            event_time=1499865549590000,
            symbol="BNBBTC",
            trade_id=28457,
            price="4.00000100",
            quantity="12.00000000",
            trade_time=1499865549590000,
            is_buyer_maker=True,
            is_best_match=True,
            ingestion_timestamp=RECEIVED,
        )
    ]


def test_microsecond_rows_keep_order_and_exact_text() -> None:
    body = (
        b'[{"id":4210000001,"price":"0.10000000","qty":"92233720368.54775807",'
        b'"quoteQty":"1","time":1737500000120789,"isBuyerMaker":false,"isBestMatch":true},'
        b'{"id":4210000000,"price":0.1,"qty":1E-8,"quoteQty":"1",'
        b'"time":1737500000120788,"isBuyerMaker":true,"isBestMatch":false}]'
    )
    first, second = parse_historical_trades(
        body, symbol="BTCUSDT", received_at_us=RECEIVED, time_unit=TimeUnit.MICROSECOND
    )
    assert (first.trade_id, second.trade_id) == (4210000001, 4210000000)  # as sent
    assert (first.price, first.quantity) == ("0.10000000", "92233720368.54775807")
    # JSON numbers (not Binance's habit, but legal JSON) are kept as their literal text.
    assert (second.price, second.quantity) == ("0.1", "1E-8")
    assert (first.trade_time, first.event_time) == (1737500000120789, 1737500000120789)
    assert (first.is_buyer_maker, second.is_buyer_maker) == (False, True)
    assert (first.is_best_match, second.is_best_match) == (True, False)


def test_unit_is_inferred_when_not_given() -> None:
    micros = b'[{"id":1,"price":"1","qty":"1","time":1737500000120789,"isBuyerMaker":true}]'
    millis = b'[{"id":1,"price":"1","qty":"1","time":1737500000120,"isBuyerMaker":true}]'
    (a,) = parse_historical_trades(micros, symbol="BTCUSDT", received_at_us=RECEIVED)
    (b,) = parse_historical_trades(millis, symbol="BTCUSDT", received_at_us=RECEIVED)
    assert (a.trade_time, b.trade_time) == (1737500000120789, 1737500000120000)
    assert a.is_best_match is None  # optional: absent isBestMatch is kept as unknown


def test_empty_page_is_no_trades() -> None:
    assert parse_historical_trades(b"[]", symbol="BTCUSDT", received_at_us=RECEIVED) == []


def test_binance_error_body_is_a_parse_error_with_the_raw_bytes() -> None:
    body = b'{"code": -1121, "msg": "Invalid symbol."}'
    with pytest.raises(FrameParseError) as caught:
        parse_historical_trades(body, symbol="NOPE", received_at_us=RECEIVED)
    assert caught.value.exchange is Exchange.BINANCE
    assert caught.value.raw == body
    assert "-1121" in caught.value.reason and "Invalid symbol." in caught.value.reason


GOOD_ROW = {"id": 1, "price": "1.0", "qty": "2.0", "time": 1737500000120789, "isBuyerMaker": True}


def _row(**changes: object) -> bytes:
    row: dict[str, object] = {**GOOD_ROW, **changes}
    return json.dumps([{k: v for k, v in row.items() if v is not ...}]).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[",
        b'[{"id":1,"price":"1"',
        b"{}",
        b'{"code": -1121}',
        b"[1, 2]",
        b"[[1]]",
        b'[{"id":NaN,"price":"1","qty":"1","time":1,"isBuyerMaker":true}]',
        _row(id="1"),
        _row(id=1.0),
        _row(id=-1),
        _row(id=2**63),
        _row(id=...),
        _row(price=None),
        _row(price="abc"),
        _row(price="1,5"),
        _row(qty=...),
        _row(time=1737500000.12),
        _row(time="1737500000120"),
        _row(time=...),
        _row(isBuyerMaker="true"),
        _row(isBuyerMaker=1),
        _row(isBestMatch="yes"),
        '[{"id":1,"price":"\u20ac"}]'.encode(),
        b"\xff\xfe[]",
    ],
)
def test_malformed_bodies_raise_parse_errors(body: bytes) -> None:
    with pytest.raises(FrameParseError) as caught:
        parse_historical_trades(body, symbol="BTCUSDT", received_at_us=RECEIVED)
    assert caught.value.exchange is Exchange.BINANCE and caught.value.raw == body


# -- the HTTP client against a scripted server -----------------------------------------------------


def test_fetch_pages_by_from_id_and_asks_for_microseconds() -> None:
    def respond(path: str) -> Reply:
        params = query(path)
        start, limit = int(params["fromId"]), int(params["limit"])
        return 200, {}, rows_body(*range(start, start + limit))

    async def scenario(server: ScriptedServer) -> list[BinanceRawTrade]:
        client = BinanceTradeBackfill(server.url, page_size=4, api_key="k-123", retry=FAST)
        return await client.fetch("BTCUSDT", 10, 19, received_at_us=clock())

    with ScriptedServer(respond) as server:
        trades = run(scenario(server))
    assert [t.trade_id for t in trades] == list(range(10, 20))
    assert [query(path) for path, _ in server.requests] == [
        {"symbol": "BTCUSDT", "fromId": "10", "limit": "4"},
        {"symbol": "BTCUSDT", "fromId": "14", "limit": "4"},
        {"symbol": "BTCUSDT", "fromId": "18", "limit": "2"},  # never more than the range
    ]
    assert all(path.startswith("/api/v3/historicalTrades?") for path, _ in server.requests)
    for _, headers in server.requests:
        assert headers["x-mbx-time-unit"] == "MICROSECOND"
        assert headers["x-mbx-apikey"] == "k-123"
    # Each page's ingestion time is read when that page arrives.
    assert [t.ingestion_timestamp for t in trades] == [1] * 4 + [2] * 4 + [3] * 2
    assert trades[0].trade_time == trades[0].event_time == 1737500000000010


def test_missing_ids_are_left_out_and_extra_rows_filtered() -> None:
    pages = {"10": rows_body(9, 10, 11, 13), "14": rows_body(16, 17, 30), "31": b"[]"}

    def respond(path: str) -> Reply:
        return 200, {}, pages[query(path)["fromId"]]

    async def scenario(server: ScriptedServer) -> list[BinanceRawTrade]:
        client = BinanceTradeBackfill(server.url, page_size=4, retry=FAST)
        return await client.fetch("BTCUSDT", 10, 20, received_at_us=clock())

    with ScriptedServer(respond) as server:
        trades = run(scenario(server))
    assert [t.trade_id for t in trades] == [10, 11, 13, 16, 17]
    assert len(server.requests) == 2  # id 30 is past the range: no third request
    assert "x-mbx-apikey" not in server.requests[0][1]


def test_empty_answer_ends_the_fetch() -> None:
    with ScriptedServer(lambda path: (200, {}, b"[]")) as server:
        client = BinanceTradeBackfill(server.url, retry=FAST)
        assert run(client.fetch("BTCUSDT", 5, 500, received_at_us=clock())) == []
    assert len(server.requests) == 1


def test_transient_failures_are_retried_with_jittered_backoff() -> None:
    replies: list[Reply] = [
        (503, {}, b"busy"),
        (502, {}, b"bad gateway"),
        (200, {}, rows_body(1, 2)),
    ]
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=3, base_delay=0.4, max_delay=10.0)
    with ScriptedServer(lambda path: replies.pop(0)) as server:
        client = BinanceTradeBackfill(server.url, retry=policy, sleep=sleeps)
        trades = run(client.fetch("BTCUSDT", 1, 2, received_at_us=clock()))
    assert [t.trade_id for t in trades] == [1, 2]
    assert len(server.requests) == 3
    # Exponential (0.4 then 0.8 at most), each scaled by a jitter factor in [0.5, 1].
    assert 0.2 <= sleeps.calls[0] <= 0.4 and 0.4 <= sleeps.calls[1] <= 0.8


def test_retry_after_is_honoured() -> None:
    replies: list[Reply] = [(429, {"Retry-After": "7"}, b'{"code":-1003}'), (200, {}, b"[]")]
    sleeps = Sleeps()
    with ScriptedServer(lambda path: replies.pop(0)) as server:
        client = BinanceTradeBackfill(server.url, retry=FAST, sleep=sleeps)
        run(client.fetch("BTCUSDT", 1, 2, received_at_us=clock()))
    assert sleeps.calls == [7.0]


def test_a_long_retry_after_goes_back_to_the_caller_at_once() -> None:
    with ScriptedServer(lambda path: (429, {"Retry-After": "120"}, b"{}")) as server:
        client = BinanceTradeBackfill(server.url, retry=FAST, sleep=Sleeps())
        with pytest.raises(BackfillError) as caught:
            run(client.fetch("BTCUSDT", 1, 2, received_at_us=clock()))
    error = caught.value
    assert (error.status, error.retry_after, error.transient, error.attempts) == (429, 120, True, 1)
    assert len(server.requests) == 1


def test_persistent_server_errors_give_up_after_the_configured_attempts() -> None:
    sleeps = Sleeps()
    with ScriptedServer(lambda path: (500, {}, b"oops")) as server:
        client = BinanceTradeBackfill(server.url, retry=FAST, sleep=sleeps)
        with pytest.raises(BackfillError) as caught:
            run(client.fetch("BTCUSDT", 1, 2, received_at_us=clock()))
    error = caught.value
    assert (error.status, error.attempts, error.transient) == (500, 3, True)
    assert error.url.startswith(server.url + "/api/v3/historicalTrades?")
    assert "oops" in error.reason and "HTTP 500" in str(error)
    assert len(server.requests) == 3 and len(sleeps.calls) == 2


def test_a_refused_request_is_not_retried() -> None:
    body = b'{"code":-1121,"msg":"Invalid symbol."}'
    with ScriptedServer(lambda path: (400, {}, body)) as server:
        client = BinanceTradeBackfill(server.url, retry=FAST, sleep=Sleeps())
        with pytest.raises(BackfillError) as caught:
            run(client.fetch("NOPE", 1, 2, received_at_us=clock()))
    assert (caught.value.status, caught.value.transient) == (400, False)
    assert "Invalid symbol." in caught.value.reason
    assert len(server.requests) == 1


def test_an_ip_ban_is_not_retried_but_is_transient() -> None:
    with ScriptedServer(lambda path: (418, {"Retry-After": "600"}, b"{}")) as server:
        client = BinanceTradeBackfill(server.url, retry=FAST, sleep=Sleeps())
        with pytest.raises(BackfillError) as caught:
            run(client.fetch("BTCUSDT", 1, 2, received_at_us=clock()))
    assert (caught.value.status, caught.value.transient, caught.value.retry_after) == (
        418,
        True,
        600.0,
    )
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_reported_without_status() -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    client = BinanceTradeBackfill(f"http://127.0.0.1:{port}", retry=FAST, sleep=sleeps)
    with pytest.raises(BackfillError) as caught:
        run(client.fetch("BTCUSDT", 1, 2, received_at_us=clock()))
    assert (caught.value.status, caught.value.attempts, caught.value.transient) == (None, 3, True)
    assert "refused" in caught.value.reason.lower()
    assert len(sleeps.calls) == 2


@pytest.mark.parametrize("url", ["gopher-ish://127.0.0.1:1", "127.0.0.1:1"])
def test_an_unusable_url_fails_at_once(url: str) -> None:
    client = BinanceTradeBackfill(url, retry=FAST, sleep=Sleeps())
    with pytest.raises(BackfillError) as caught:
        run(client.fetch("BTCUSDT", 1, 2, received_at_us=clock()))
    assert (caught.value.transient, caught.value.attempts, caught.value.status) == (False, 1, None)
    assert "invalid URL" in caught.value.reason


def test_an_error_body_in_a_200_answer_is_a_parse_error() -> None:
    body = b'{"code":-1000,"msg":"An unknown error occurred."}'
    with ScriptedServer(lambda path: (200, {}, body)) as server:
        client = BinanceTradeBackfill(server.url, retry=FAST)
        with pytest.raises(FrameParseError) as caught:
            run(client.fetch("BTCUSDT", 1, 2, received_at_us=clock()))
    assert caught.value.raw == body


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="page_size"):
        BinanceTradeBackfill("http://127.0.0.1:1", page_size=1001)
    with pytest.raises(ValueError, match="page_size"):
        BinanceTradeBackfill("http://127.0.0.1:1", page_size=0)
    client = BinanceTradeBackfill("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="first_id"):
        run(client.fetch("BTCUSDT", 5, 4, received_at_us=clock()))
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


def test_retry_after_forms() -> None:
    from datetime import UTC, datetime

    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


# -- against the exchange simulator ----------------------------------------------------------------


def test_backfill_returns_exactly_the_ground_truth_including_skipped_trades(tmp_path: Path) -> None:
    async def backfill(
        sim: ExchangeSimulator, first_id: int, last_id: int, _: dict[int, dict[str, Any]]
    ) -> list[BinanceRawTrade]:
        client = BinanceTradeBackfill(sim.binance_rest_url, page_size=7, retry=FAST)
        return await client.fetch("BTCUSDT", first_id, last_id, received_at_us=clock())

    # 6 ids before the 20 skipped and 11 after: 37 ids, six pages of 7.
    trades, expected = backfill_around_skipped_trades(
        tmp_path, Exchange.BINANCE, "BTCUSDT", backfill, before=6, after=11
    )
    for trade, truth in zip(trades, expected, strict=True):
        assert trade.symbol == truth["symbol"] and trade.event_type == "trade"
        assert Decimal(trade.price) == Decimal(truth["price"])
        assert Decimal(trade.quantity) == Decimal(truth["qty"])
        # Binance reports the maker: buyer is maker <=> the taker sold.
        assert trade.is_buyer_maker == (truth["side"] == "sell")
        assert trade.trade_time == trade.event_time == truth["time_us"]
    pages = sorted({t.ingestion_timestamp for t in trades})
    assert pages == [1, 2, 3, 4, 5, 6]  # 37 ids in pages of at most 7
