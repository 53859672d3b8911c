"""The simulated Kraken endpoint speaks the documented v2 WebSocket and REST Trades formats."""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from k2.domain.markets import Exchange
from k2.local.exchange_simulator import ExchangeSimulator, FaultKind, FaultRequest
from tests.local.exchange_simulator.sim_testkit import (
    KRAKEN_TRADE_FIELDS,
    http_get,
    make_config,
    recv_json,
    rfc3339_us,
    run,
)

pytestmark = pytest.mark.unit

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TICKER_FIELDS = {
    "symbol",
    "bid",
    "bid_qty",
    "ask",
    "ask_qty",
    "last",
    "volume",
    "vwap",
    "low",
    "high",
    "change",
    "change_pct",
    "timestamp",
}


def _decimal_json(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


async def _subscribe(ws: ClientConnection, channel: str, symbols: list[str], **params: Any) -> None:
    request = {"method": "subscribe", "params": {"channel": channel, "symbol": symbols, **params}}
    await ws.send(json.dumps({**request, "req_id": 42}))


async def _trade_messages(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _ in range(count * 50):
        message = _decimal_json(await ws.recv())
        if message.get("channel") == "trade" and message["type"] == "update":
            messages.append(message)
            if len(messages) == count:
                return messages
    raise AssertionError("too few trade messages")


def test_status_ack_snapshot_of_50_and_multi_trade_updates(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path, rate=1000)) as sim:
            # Let the market build a history longer than a snapshot.
            for _ in range(500):
                if len(sim.engines[Exchange.KRAKEN].histories["BTC/USD"]) > 60:
                    break
                await __import__("asyncio").sleep(0.01)
            async with connect(sim.kraken_ws_url) as ws:
                status = await recv_json(ws)
                assert status["channel"] == "status" and status["type"] == "update"
                assert set(status["data"][0]) == {
                    "version",
                    "system",
                    "api_version",
                    "connection_id",
                }
                assert status["data"][0]["system"] == "online"
                await _subscribe(ws, "trade", ["BTC/USD"], snapshot=True)
                ack = await recv_json(ws)
                assert set(ack) == {"method", "result", "success", "time_in", "time_out", "req_id"}
                assert ack["result"] == {"channel": "trade", "snapshot": True, "symbol": "BTC/USD"}
                assert ack["success"] is True and TIMESTAMP.match(ack["time_in"])
                raw_snapshot = await ws.recv()
                snapshot = _decimal_json(raw_snapshot)
                assert snapshot["channel"] == "trade" and snapshot["type"] == "snapshot"
                assert len(snapshot["data"]) == 50
                assert "e+" not in str(raw_snapshot).lower() and '"price":"' not in str(
                    raw_snapshot
                )
                ids = [item["trade_id"] for item in snapshot["data"]]
                assert ids == list(range(ids[0], ids[0] + 50))
                updates = await _trade_messages(ws, 40)
                assert any(len(message["data"]) > 1 for message in updates)
                update_ids = [item["trade_id"] for m in updates for item in m["data"]]
                # Updates continue exactly where the snapshot ended.
                assert update_ids == list(range(ids[-1] + 1, ids[-1] + 1 + len(update_ids)))
                for item in (item for m in updates for item in m["data"]):
                    assert set(item) == KRAKEN_TRADE_FIELDS
                    assert isinstance(item["price"], Decimal) and isinstance(item["qty"], Decimal)
                    assert item["side"] in ("buy", "sell")
                    assert item["ord_type"] in ("limit", "market")
                    assert TIMESTAMP.match(item["timestamp"])

    run(scenario())


def test_ticker_snapshot_and_updates(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            ExchangeSimulator(make_config(tmp_path)) as sim,
            connect(sim.kraken_ws_url) as ws,
        ):
            await recv_json(ws)  # status
            await _subscribe(ws, "ticker", ["ETH/USD"])
            ack = await recv_json(ws)
            assert ack["result"] == {"channel": "ticker", "snapshot": True, "symbol": "ETH/USD"}
            kinds = []
            for _ in range(3):
                message = _decimal_json(await ws.recv())
                assert message["channel"] == "ticker"
                kinds.append(message["type"])
                (item,) = message["data"]
                assert set(item) == TICKER_FIELDS
                assert item["bid"] < item["ask"] and item["low"] <= item["high"]
            assert kinds == ["snapshot", "update", "update"]

    run(scenario())


def test_heartbeat_when_idle_and_ping_pong(tmp_path: Path) -> None:
    config = make_config(tmp_path, rate=0.01, heartbeat_interval=0.1)

    async def scenario() -> None:
        async with ExchangeSimulator(config) as sim, connect(sim.kraken_ws_url) as ws:
            await recv_json(ws)  # status
            await _subscribe(ws, "trade", ["ETH/USD"], snapshot=False)
            await recv_json(ws)  # ack
            assert await recv_json(ws) == {"channel": "heartbeat"}
            await ws.send(json.dumps({"method": "ping", "req_id": 5}))
            for _ in range(20):
                message = await recv_json(ws)
                if message.get("method") == "pong":
                    assert message["req_id"] == 5 and TIMESTAMP.match(message["time_out"])
                    return
            raise AssertionError("no pong")

    run(scenario())


def test_unknown_pair_and_bad_requests_are_answered_with_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            ExchangeSimulator(make_config(tmp_path)) as sim,
            connect(sim.kraken_ws_url) as ws,
        ):
            await recv_json(ws)
            await _subscribe(ws, "trade", ["XBT/USD"])
            error = await recv_json(ws)
            assert error["success"] is False and error["symbol"] == "XBT/USD"
            assert error["method"] == "subscribe" and "XBT/USD" in error["error"]
            await ws.send("not json")
            assert (await recv_json(ws))["success"] is False

    run(scenario())


def test_rest_trades_shape_and_since_cursor(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            async with connect(sim.kraken_ws_url) as ws:
                await recv_json(ws)
                await _subscribe(ws, "trade", ["BTC/USD"], snapshot=False)
                await recv_json(ws)
                trades = [item for m in await _trade_messages(ws, 5) for item in m["data"]]
            base = f"{sim.kraken_rest_url}/0/public/Trades"
            status, body = await http_get(f"{base}?pair=XBTUSD&count=3")
            assert status == 200 and body["error"] == []
            assert set(body["result"]) == {"XXBTZUSD", "last"}
            rows = body["result"]["XXBTZUSD"]
            assert len(rows) == 3 and all(len(row) == 7 for row in rows)
            price, volume, when, side, ord_type, misc, trade_id = rows[0]
            assert isinstance(price, str) and isinstance(volume, str) and isinstance(when, float)
            assert side in ("b", "s") and ord_type in ("m", "l") and misc == ""
            assert isinstance(trade_id, int)
            # since = the first trade's time (ns) returns the trades after it, in order.
            since = rfc3339_us(trades[0]["timestamp"]) * 1000
            status, body = await http_get(
                f"{base}?pair=XBTUSD&since={since}&count={len(trades) - 1}"
            )
            rows = body["result"]["XXBTZUSD"]
            assert [row[6] for row in rows] == [t["trade_id"] for t in trades[1:]]
            assert [Decimal(row[0]) for row in rows] == [t["price"] for t in trades[1:]]
            assert [Decimal(row[1]) for row in rows] == [t["qty"] for t in trades[1:]]
            assert body["result"]["last"] == str(rfc3339_us(trades[-1]["timestamp"]) * 1000)
            status, body = await http_get(f"{base}?pair=DOGEUSD")
            assert body == {"error": ["EQuery:Unknown asset pair"]}

    run(scenario())


def test_skipped_trade_ids_are_missing_on_the_socket_but_served_by_rest(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            async with connect(sim.kraken_ws_url) as ws:
                await recv_json(ws)
                await _subscribe(ws, "trade", ["BTC/USD"], snapshot=False)
                await recv_json(ws)
                messages = await _trade_messages(ws, 2)
                sim.inject(FaultRequest(FaultKind.SKIP, Exchange.KRAKEN, "BTC/USD", count=2))
                messages += await _trade_messages(ws, 40)
                items = [item for m in messages for item in m["data"]]
            ids = [item["trade_id"] for item in items]
            gaps = [(a, b) for a, b in itertools.pairwise(ids) if b != a + 1]
            assert len(gaps) == 1 and gaps[0][1] - gaps[0][0] == 3
            before = next(item for item in items if item["trade_id"] == gaps[0][0])
            since = rfc3339_us(before["timestamp"]) * 1000
            _status, body = await http_get(
                f"{sim.kraken_rest_url}/0/public/Trades?pair=XBTUSD&since={since}&count=2"
            )
            assert [row[6] for row in body["result"]["XXBTZUSD"]] == [
                gaps[0][0] + 1,
                gaps[0][0] + 2,
            ]

    run(scenario())
