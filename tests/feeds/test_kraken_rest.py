"""Kraken REST backfill: the pure parser on bodies written here, paging through time on a
scripted local server (including trades that share a timestamp across a page boundary), and
whole fetches against the exchange simulator, reconciled with its ground truth."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from k2.domain.errors import UnknownSymbolError
from k2.domain.markets import Exchange
from k2.domain.timestamps import rfc3339_to_micros
from k2.feeds.frame_errors import FrameParseError
from k2.feeds.kraken import KrakenRawTrade
from k2.feeds.kraken_rest import KrakenTradeBackfill, parse_trades_page, rest_pair
from k2.feeds.rest_client import BackfillError
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


def parse(body: bytes, symbol: str = "BTC/USD") -> tuple[list[KrakenRawTrade], str]:
    return parse_trades_page(body, symbol=symbol, received_at_us=RECEIVED)


# -- the pure parser ------------------------------------------------------------------------------

# The response example of docs.kraken.com "Get Recent Trades" (GET /0/public/Trades), verbatim.
# Seconds from GNU date: date -u -d @1688669597 -> 2023-07-06T18:53:17, @1688669602 -> ...:22.
DOC_EXAMPLE = b"""{
  "error": [],
  "result": {
    "XXBTZUSD": [
      ["30243.40000", "0.34507674", 1688669597.8277369, "b", "m", "", 61044952],
      ["30243.30000", "0.00376960", 1688669598.2804112, "s", "l", "", 61044953],
      ["30243.30000", "0.01235716", 1688669602.698379, "s", "m", "", 61044956]
    ],
    "last": "1688671969993150842"
  }
}"""


def test_doc_example() -> None:
    trades, last = parse(DOC_EXAMPLE)
    assert last == "1688671969993150842"
    assert trades[0] == KrakenRawTrade(
        symbol="BTC/USD",
        side="buy",
        price="30243.40000",
        qty="0.34507674",
        ord_type="market",
        trade_id=61044952,
        # Seven fractional digits (a printed double): the seventh is dropped, not rounded.
        timestamp="2023-07-06T18:53:17.827736Z",
        message_type="backfill",
        ingestion_timestamp=RECEIVED,
    )
    assert [(t.side, t.ord_type) for t in trades] == [
        ("buy", "market"),
        ("sell", "limit"),
        ("sell", "market"),
    ]
    assert [t.trade_id for t in trades] == [61044952, 61044953, 61044956]
    assert trades[1].timestamp == "2023-07-06T18:53:18.280411Z"
    assert trades[2].timestamp == "2023-07-06T18:53:22.698379Z"  # six digits: exact
    assert rfc3339_to_micros(trades[2].timestamp) == 1688669602698379


@pytest.mark.parametrize(
    ("time_text", "expected"),
    [
        # Four decimals, as older trades come back (support.kraken.com, Trades endpoint article).
        ("1559347203.7998", "2019-06-01T00:00:03.799800Z"),
        ("1559347203.0001", "2019-06-01T00:00:03.000100Z"),
        ("1559347203", "2019-06-01T00:00:03.000000Z"),
        ("1559347203.5", "2019-06-01T00:00:03.500000Z"),
        ("1559347203.999999", "2019-06-01T00:00:03.999999Z"),
        ("1559347203.999999999", "2019-06-01T00:00:03.999999Z"),
        # The v2 doc trade example's time (2023-09-25T07:49:37.708706Z = 1695628177.708706 s).
        ("1695628177.708706", "2023-09-25T07:49:37.708706Z"),
        ('"1695628177.708706"', "2023-09-25T07:49:37.708706Z"),  # as a JSON string (WS v1)
    ],
)
def test_times_become_v2_timestamps_without_floats(time_text: str, expected: str) -> None:
    body = (
        '{"error":[],"result":{"XXBTZUSD":[["65000.1","0.5",' + time_text + ',"s","l","",7]],'
        '"last":"1"}}'
    ).encode()
    (trade,) = parse(body)[0]
    assert trade.timestamp == expected


def test_numbers_are_kept_as_sent() -> None:
    body = (
        b'{"error":[],"result":{"XETHZUSD":[[3500.10000,"0.00000001",1695628177.708706,'
        b'"b","l","",12],["0.1","1e-8",1695628177,"s","m","",13,"future column"]],'
        b'"last":1695628177000000000}}'
    )
    trades, last = parse(body, symbol="ETH/USD")
    assert [(t.price, t.qty) for t in trades] == [("3500.10000", "0.00000001"), ("0.1", "1e-8")]
    assert all(t.symbol == "ETH/USD" for t in trades)
    assert last == "1695628177000000000"  # a number cursor is kept as its text


def test_warnings_do_not_fail_a_good_answer() -> None:
    body = b'{"error":["WGeneral:Something is deprecated"],"result":{"XXBTZUSD":[],"last":"5"}}'
    assert parse(body) == ([], "5")


@pytest.mark.parametrize(
    "errors",
    [["EQuery:Unknown asset pair"], ["EGeneral:Too many requests"], ["WGeneral:x", "EAPI:y"]],
)
def test_kraken_errors_are_parse_errors_with_the_raw_bytes(errors: list[str]) -> None:
    body = json.dumps({"error": errors}).encode()
    with pytest.raises(FrameParseError) as caught:
        parse(body)
    assert caught.value.exchange is Exchange.KRAKEN and caught.value.raw == body
    assert errors[-1] in caught.value.reason


GOOD_ROW: list[object] = ["65000.1", "0.5", 1695628177.708706, "s", "l", "", 7]


def _body(row: list[object] | None = None, **result: object) -> bytes:
    content: dict[str, object] = {"XXBTZUSD": [row if row is not None else GOOD_ROW], "last": "1"}
    content.update(result)
    return json.dumps({"error": [], "result": content}).encode()


def _with(index: int, value: object) -> bytes:
    row = list(GOOD_ROW)
    row[index] = value
    return _body(row)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'{"result":{"XXBTZUSD":[],"last":"1"}}',  # no error array
        b'{"error":"EQuery:Unknown asset pair"}',  # error is not an array
        b'{"error":[7],"result":{"XXBTZUSD":[],"last":"1"}}',
        b'{"error":[]}',  # no result
        b'{"error":[],"result":[]}',
        b'{"error":[],"result":{"XXBTZUSD":[]}}',  # no cursor
        _body(last="soon"),
        _body(last=None),
        _body(last="-1"),
        _body(XBTUSD=[]),  # two pairs
        b'{"error":[],"result":{"last":"1"}}',  # no pair
        b'{"error":[],"result":{"XXBTZUSD":{},"last":"1"}}',
        _body(["65000.1", "0.5", 1695628177.7, "s", "l", ""]),  # no trade_id column
        _body(["65000.1"]),
        b'{"error":[],"result":{"XXBTZUSD":["row"],"last":"1"}}',
        _with(0, None),
        _with(0, "65,000.1"),
        _with(1, "NaN"),
        _with(2, "soon"),
        _with(2, -1695628177.7),
        b'{"error":[],"result":{"XXBTZUSD":[["1","1",1.695628177708706e9,"s","l","",7]],'
        b'"last":"1"}}',  # exponent form
        _with(2, None),
        _with(3, "buy"),
        _with(3, None),
        _with(4, "market"),
        _with(4, "x"),
        _with(5, None),
        _with(6, "7"),
        _with(6, 7.0),
        _with(6, -7),
        b'{"error":[],"result":{"XXBTZUSD":[["1","1",Infinity,"s","l","",7]],"last":"1"}}',
    ],
)
def test_malformed_bodies_raise_parse_errors(body: bytes) -> None:
    with pytest.raises(FrameParseError) as caught:
        parse(body)
    assert caught.value.exchange is Exchange.KRAKEN and caught.value.raw == body


def test_rest_pair_names() -> None:
    # Kraken REST altnames use the legacy codes (docs example: pair=XBTUSD, key XXBTZUSD).
    assert rest_pair("BTC/USD") == "XBTUSD"
    assert rest_pair("XBT/USD") == "XBTUSD"
    assert rest_pair("ETH/USD") == "ETHUSD"
    assert rest_pair("DOGE/USD") == "XDGUSD"
    assert rest_pair("ETH/BTC") == "ETHXBT"
    assert rest_pair("SOL/EUR") == "SOLEUR"
    with pytest.raises(UnknownSymbolError):
        rest_pair("BTCUSD")


# -- paging through time, against a scripted server ------------------------------------------------


class TradeTape:
    """Kraken's Trades paging over a fixed tape: rows strictly after ``since`` (ns, or seconds
    when small), at most ``count``, ``last`` the time of the last row returned."""

    def __init__(self, times_ns: list[int], first_id: int = 100) -> None:
        self.trades = [(first_id + index, ns) for index, ns in enumerate(times_ns)]

    def __call__(self, path: str) -> Reply:
        params = query(path)
        assert urlsplit(path).path == "/0/public/Trades" and params["pair"] == "XBTUSD"
        since, count = int(params["since"]), int(params["count"])
        page = [(i, ns) for i, ns in self.trades if ns > since][:count]
        rows = [
            ["100.0", "1.0", f"{ns // 10**9}.{ns % 10**9:09d}", "b", "l", "", i] for i, ns in page
        ]
        last = page[-1][1] if page else since
        body = {"error": [], "result": {"XXBTZUSD": rows, "last": str(last)}}
        return 200, {}, json.dumps(body).encode()


BASE_NS = 1_700_000_000 * 10**9


def test_trades_sharing_a_timestamp_across_a_page_boundary_are_all_fetched() -> None:
    # Ids 101..103 are one taker order: three fills at the same nanosecond, and the first page
    # (ids 100..102) ends in the middle of them. Moving on to `last` itself would skip id 103.
    times = [BASE_NS + step for step in (0, 1000, 1000, 1000, 2000, 3000, 4000, 5000)]
    tape = TradeTape(times)
    sleeps = Sleeps()

    async def scenario(url: str) -> list[KrakenRawTrade]:
        client = KrakenTradeBackfill(url, page_size=3, retry=FAST, sleep=sleeps)
        return await client.fetch(
            "BTC/USD", 101, 107, since_us=BASE_NS // 1000, received_at_us=clock()
        )

    with ScriptedServer(tape) as server:
        trades = run(scenario(server.url))
    assert [t.trade_id for t in trades] == [101, 102, 103, 104, 105, 106, 107]
    # The first cursor starts a little before the known trade, so its timestamp is included.
    assert int(query(server.paths[0])["since"]) < BASE_NS
    assert all(query(path)["count"] == "3" for path in server.paths)
    # Pages are spaced by the default one second (Kraken's public rate limit), not sent at once.
    assert sleeps.calls == [1.0] * (len(server.paths) - 1)
    assert [t.timestamp for t in trades[:4]] == ["2023-11-14T22:13:20.000001Z"] * 3 + [
        "2023-11-14T22:13:20.000002Z"
    ]


def test_more_same_time_trades_than_a_page_cannot_loop_forever() -> None:
    times = [BASE_NS, BASE_NS, BASE_NS, BASE_NS + 5000, BASE_NS + 6000]
    with ScriptedServer(TradeTape(times)) as server:
        client = KrakenTradeBackfill(server.url, page_size=2, retry=FAST, request_interval=0)
        trades = run(
            client.fetch("BTC/USD", 100, 104, since_us=BASE_NS // 1000, received_at_us=clock())
        )
    # Kraken's exclusive cursor cannot address the third fill of a 3-way tie with pages of 2:
    # it is reported missing (the caller records it), and the fetch still ends.
    assert [t.trade_id for t in trades] == [100, 101, 103, 104]
    assert len(server.paths) == 3


def test_fetch_stops_when_kraken_has_no_more_trades() -> None:
    times = [BASE_NS + step * 1000 for step in range(5)]
    with ScriptedServer(TradeTape(times)) as server:
        client = KrakenTradeBackfill(server.url, page_size=2, retry=FAST, request_interval=0)
        trades = run(
            client.fetch("BTC/USD", 101, 500, since_us=BASE_NS // 1000, received_at_us=clock())
        )
    assert [t.trade_id for t in trades] == [101, 102, 103, 104]
    # Each full page re-reads its boundary timestamp (one repeat), then an empty page ends it.
    assert len(server.paths) == 6 and query(server.paths[-1])["since"] == str(BASE_NS + 4000)


def test_rate_limit_errors_in_the_body_are_retried() -> None:
    busy = json.dumps({"error": ["EGeneral:Too many requests"]}).encode()
    tape = TradeTape([BASE_NS + 1000, BASE_NS + 2000])
    replies: list[Reply] = [(200, {}, busy), (503, {}, b"")]
    sleeps = Sleeps()

    def respond(path: str) -> Reply:
        return replies.pop(0) if replies else tape(path)

    with ScriptedServer(respond) as server:
        client = KrakenTradeBackfill(server.url, retry=FAST, sleep=sleeps, request_interval=0)
        trades = run(
            client.fetch("BTC/USD", 100, 101, since_us=BASE_NS // 1000, received_at_us=clock())
        )
    assert [t.trade_id for t in trades] == [100, 101]
    assert len(server.paths) == 3 and len(sleeps.calls) == 2


def test_persistent_rate_limit_becomes_a_backfill_error() -> None:
    busy = json.dumps({"error": ["EAPI:Rate limit exceeded"]}).encode()
    with ScriptedServer(lambda path: (200, {}, busy)) as server:
        client = KrakenTradeBackfill(server.url, retry=FAST, sleep=Sleeps())
        with pytest.raises(BackfillError) as caught:
            run(client.fetch("BTC/USD", 1, 2, since_us=0, received_at_us=clock()))
    assert caught.value.transient and caught.value.attempts == 3
    assert "EAPI:Rate limit exceeded" in caught.value.reason
    assert caught.value.url.startswith(server.url + "/0/public/Trades?pair=XBTUSD&since=0")


def test_a_kraken_error_is_not_retried() -> None:
    body = json.dumps({"error": ["EQuery:Unknown asset pair"]}).encode()
    with ScriptedServer(lambda path: (200, {}, body)) as server:
        client = KrakenTradeBackfill(server.url, retry=FAST, sleep=Sleeps())
        with pytest.raises(FrameParseError) as caught:
            run(client.fetch("BTC/USD", 1, 2, since_us=0, received_at_us=clock()))
    assert caught.value.raw == body and len(server.paths) == 1


def test_http_failures_become_backfill_errors() -> None:
    with ScriptedServer(lambda path: (502, {}, b"bad gateway")) as server:
        client = KrakenTradeBackfill(server.url, retry=FAST, sleep=Sleeps())
        with pytest.raises(BackfillError) as caught:
            run(client.fetch("BTC/USD", 1, 2, since_us=0, received_at_us=clock()))
    assert (caught.value.status, caught.value.attempts) == (502, 3)
    assert len(server.paths) == 3


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="page_size"):
        KrakenTradeBackfill("http://127.0.0.1:1", page_size=1001)
    client = KrakenTradeBackfill("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="first_id"):
        run(client.fetch("BTC/USD", 2, 1, since_us=0, received_at_us=clock()))


# -- against the exchange simulator ----------------------------------------------------------------


def test_backfill_returns_exactly_the_ground_truth_including_skipped_trades(
    tmp_path: Path,
) -> None:
    async def backfill(
        sim: ExchangeSimulator, first_id: int, last_id: int, truth: dict[int, dict[str, Any]]
    ) -> list[KrakenRawTrade]:
        since_us = truth[first_id - 1]["time_us"]  # the last trade known before the gap
        client = KrakenTradeBackfill(
            sim.kraken_rest_url, page_size=7, retry=FAST, request_interval=0
        )
        return await client.fetch(
            "BTC/USD", first_id, last_id, since_us=since_us, received_at_us=clock()
        )

    # 5 ids before the 20 skipped and 12 after: 37 ids, in pages of 7.
    trades, expected = backfill_around_skipped_trades(
        tmp_path, Exchange.KRAKEN, "BTC/USD", backfill, before=5, after=12
    )
    for trade, truth in zip(trades, expected, strict=True):
        assert trade.symbol == truth["symbol"] == "BTC/USD"
        assert Decimal(trade.price) == Decimal(truth["price"])
        assert Decimal(trade.qty) == Decimal(truth["qty"])
        assert trade.side == truth["side"]  # both the taker side
        assert trade.ord_type in ("market", "limit")
        assert rfc3339_to_micros(trade.timestamp) == truth["time_us"]
        assert trade.message_type == "backfill"
    assert len({t.ingestion_timestamp for t in trades}) >= 6  # several pages were needed
