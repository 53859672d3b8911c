"""The simulated Binance endpoint speaks the documented stream and REST formats."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections import defaultdict
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from k2.local.exchange_simulator import ExchangeSimulator
from tests.local.exchange_simulator.sim_testkit import (
    BOOK_TICKER_FIELDS,
    TRADE_FIELDS,
    binance_trades,
    ground_truth,
    http_get,
    make_config,
    recv_json,
    run,
)

pytestmark = pytest.mark.unit

STREAMS = ["btcusdt@trade", "btcusdt@bookTicker", "ethusdt@trade", "ethusdt@bookTicker"]


def _is_8_decimals(text: object) -> bool:
    return isinstance(text, str) and len(text.split(".")[1]) == 8


def test_combined_stream_frames_carry_exactly_the_documented_fields(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            ExchangeSimulator(make_config(tmp_path)) as sim,
            connect(sim.binance_ws_url(STREAMS)) as ws,
        ):
            seen: set[str] = set()
            for _ in range(200):
                frame = await recv_json(ws)
                assert set(frame) == {"stream", "data"}
                stream, data = frame["stream"], frame["data"]
                seen.add(stream)
                if stream.endswith("@trade"):
                    assert set(data) == TRADE_FIELDS
                    assert data["e"] == "trade" and data["s"] == stream[:-6].upper()
                    assert _is_8_decimals(data["p"]) and _is_8_decimals(data["q"])
                    assert isinstance(data["t"], int) and isinstance(data["m"], bool)
                    assert len(str(data["T"])) == 13 and data["E"] >= data["T"]  # ms
                else:
                    assert set(data) == BOOK_TICKER_FIELDS
                    assert _is_8_decimals(data["b"]) and _is_8_decimals(data["A"])
                    assert float(data["b"]) < float(data["a"])
                if seen == set(STREAMS):
                    return
            raise AssertionError(f"streams seen: {seen}")

    run(scenario())


def test_time_unit_microsecond_switches_trade_times(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            url = sim.binance_ws_url(["btcusdt@trade"], microseconds=True)
            async with connect(url) as ws:
                (trade,) = await binance_trades(ws, 1)
                assert len(str(trade["T"])) == 16 and len(str(trade["E"])) == 16
                truth = {row["trade_id"]: row for row in ground_truth(tmp_path / "gt.jsonl")}
                assert truth[trade["t"]]["time_us"] == trade["T"]

    run(scenario())


def test_trade_ids_are_contiguous_and_ground_truth_equals_the_wire(tmp_path: Path) -> None:
    config = make_config(tmp_path, wait_for_subscriber=True)

    async def scenario() -> None:
        async with (
            ExchangeSimulator(config) as sim,
            connect(sim.binance_ws_url(["btcusdt@trade", "ethusdt@trade"])) as ws,
        ):
            received = await binance_trades(ws, 150)
        by_symbol: dict[str, list[int]] = defaultdict(list)
        for trade in received:
            by_symbol[trade["s"]].append(trade["t"])
        assert set(by_symbol) == {"BTCUSDT", "ETHUSDT"}
        for ids in by_symbol.values():
            assert ids == list(range(ids[0], ids[0] + len(ids)))
        last = {symbol: ids[-1] for symbol, ids in by_symbol.items()}
        truth = [
            row
            for row in ground_truth(tmp_path / "gt.jsonl")
            if row["exchange"] == "binance" and row["trade_id"] <= last[row["symbol"]]
        ]
        wire = [
            {
                "exchange": "binance",
                "symbol": t["s"],
                "trade_id": t["t"],
                "price": t["p"],
                "qty": t["q"],
                "time_ms": t["T"],
                "side": "sell" if t["m"] else "buy",
                "on_wire": True,
            }
            for t in received
        ]
        for row in truth:
            row["time_ms"] = row.pop("time_us") // 1000
        assert truth == wire

    run(scenario())


def test_rest_trades_serve_the_documented_array(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            async with connect(sim.binance_ws_url(["btcusdt@trade"])) as ws:
                trades = await binance_trades(ws, 5)
            base = sim.binance_rest_url
            first = trades[0]["t"]
            status, rows = await http_get(
                f"{base}/api/v3/historicalTrades?symbol=BTCUSDT&fromId={first}&limit=5"
            )
            assert status == 200
            assert [row["id"] for row in rows] == [t["t"] for t in trades]
            assert set(rows[0]) == {
                "id",
                "price",
                "qty",
                "quoteQty",
                "time",
                "isBuyerMaker",
                "isBestMatch",
            }
            assert [(r["price"], r["qty"], r["time"], r["isBuyerMaker"]) for r in rows] == [
                (t["p"], t["q"], t["T"], t["m"]) for t in trades
            ]
            status, rows = await http_get(
                f"{base}/api/v3/historicalTrades?symbol=BTCUSDT&fromId={first}&limit=1",
                {"X-MBX-TIME-UNIT": "MICROSECOND"},
            )
            assert len(str(rows[0]["time"])) == 16
            for _ in range(100):  # ETHUSDT may not have traded three times yet on a busy machine
                status, recent = await http_get(f"{base}/api/v3/trades?symbol=ETHUSDT&limit=3")
                if status != 200 or len(recent) == 3:
                    break
                await asyncio.sleep(0.05)
            assert status == 200 and len(recent) == 3
            ids = [row["id"] for row in recent]
            assert ids == sorted(ids)
            status, error = await http_get(f"{base}/api/v3/trades?symbol=DOGEUSDT")
            assert status == 400 and error == {"code": -1121, "msg": "Invalid symbol."}
            status, error = await http_get(f"{base}/api/v3/historicalTrades")
            assert status == 400 and error["code"] == -1102

    run(scenario())


def test_invalid_stream_names_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            for streams in (["BTCUSDT@trade"], ["dogeusdt@trade"], ["btcusdt@depth"]):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(sim.binance_ws_url(streams)):
                        pass
                assert refused.value.response.status_code == 400

    run(scenario())


def test_live_subscribe_and_list_subscriptions(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            ExchangeSimulator(make_config(tmp_path)) as sim,
            connect(sim.binance_ws_url([])) as ws,
        ):
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 7}))
            assert await recv_json(ws) == {"result": None, "id": 7}
            (trade,) = await binance_trades(ws, 1)
            assert trade["s"] == "ETHUSDT"
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
            for _ in range(100):
                reply = await recv_json(ws)
                if reply.get("id") == 8:
                    assert reply["result"] == ["ethusdt@trade"]
                    return
            raise AssertionError("no LIST_SUBSCRIPTIONS reply")

    run(scenario())


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(length)


def test_server_pings_and_closes_a_client_that_never_pongs(tmp_path: Path) -> None:
    config = make_config(tmp_path, ping_interval=0.1, ping_timeout=0.3)

    async def scenario() -> None:
        async with ExchangeSimulator(config) as sim:
            # A bare socket, so no library answers the pings for us.
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.binance_port)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(
                (
                    "GET /stream?streams=btcusdt@bookTicker HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
            opcodes: list[int] = []
            close_payload = b""
            for _ in range(100_000):
                opcode, payload = await _read_frame(reader)
                opcodes.append(opcode)
                if opcode == 0x8:
                    close_payload = payload
                    break
            writer.close()
            assert 0x9 in opcodes  # ping
            assert int.from_bytes(close_payload[:2], "big") == 1008

    run(scenario())
