"""Injected faults do to the wire what they promise, and the ground truth stays exact."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from k2.domain.markets import Exchange
from k2.local.exchange_simulator import (
    ExchangeSimulator,
    FaultKind,
    FaultProbabilities,
    FaultRequest,
    MalformedKind,
    ScheduledFault,
)
from tests.local.exchange_simulator.sim_testkit import (
    TRADE_FIELDS,
    binance_trades,
    ground_truth,
    http_get,
    http_post,
    make_config,
    recv_json,
    run,
)

pytestmark = pytest.mark.unit

BTC = ["btcusdt@trade"]


def _valid_trade(text: str) -> dict[str, Any] | None:
    """The trade payload of a well-formed frame, None for anything a parser must reject."""
    try:
        frame = json.loads(text)
        data = frame["data"]
        ok = (
            set(data) == TRADE_FIELDS
            and isinstance(data["t"], int)
            and isinstance(data["T"], int)
            and isinstance(data["p"], str)
            and isinstance(data["q"], str)
            and isinstance(data["m"], bool)
        )
    except (ValueError, KeyError, TypeError):
        return None
    return data if ok else None


def test_skipped_ids_are_absent_from_the_socket_but_in_rest_and_ground_truth(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            async with connect(sim.binance_ws_url(BTC)) as ws:
                trades = await binance_trades(ws, 3)
                sim.inject(FaultRequest(FaultKind.SKIP, Exchange.BINANCE, "BTCUSDT", count=3))
                trades += await binance_trades(ws, 60)
            ids = [trade["t"] for trade in trades]
            gaps = [(a, b) for a, b in itertools.pairwise(ids) if b != a + 1]
            assert gaps == [(gaps[0][0], gaps[0][0] + 4)]
            missing = [gaps[0][0] + 1, gaps[0][0] + 2, gaps[0][0] + 3]
            status, rows = await http_get(
                f"{sim.binance_rest_url}/api/v3/historicalTrades"
                f"?symbol=BTCUSDT&fromId={missing[0]}&limit=3"
            )
            assert status == 200 and [row["id"] for row in rows] == missing
            truth = {
                row["trade_id"]: row
                for row in ground_truth(tmp_path / "gt.jsonl")
                if row["symbol"] == "BTCUSDT"
            }
            assert [truth[i]["on_wire"] for i in missing] == [False, False, False]
            assert [truth[i]["price"] for i in missing] == [row["price"] for row in rows]
            assert all(truth[i]["on_wire"] for i in ids)
            assert sim.stats()["skipped_trades"]["binance"] == 3

    run(scenario())


def test_duplicates_appear_twice_on_the_wire_and_once_in_ground_truth(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            async with connect(sim.binance_ws_url(BTC)) as ws:
                trades = await binance_trades(ws, 2)
                sim.inject(FaultRequest(FaultKind.DUPLICATE, Exchange.BINANCE, "BTCUSDT", count=2))
                trades += await binance_trades(ws, 60)
            counts = Counter(trade["t"] for trade in trades)
            doubled = sorted(i for i, n in counts.items() if n == 2)
            assert len(doubled) == 2 and max(counts.values()) == 2
            truth = Counter(row["trade_id"] for row in ground_truth(tmp_path / "gt.jsonl"))
            assert all(truth[i] == 1 for i in counts)
            assert sim.stats()["duplicated_trades"]["binance"] == 2

    run(scenario())


def test_malformed_frames_are_sent_and_counted(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            async with connect(sim.binance_ws_url(BTC)) as ws:
                await binance_trades(ws, 2)
                for kind in MalformedKind:
                    sim.inject(FaultRequest(FaultKind.MALFORMED, Exchange.BINANCE, kind=kind))
                bad: list[str] = []
                for _ in range(500):
                    text = str(await asyncio.wait_for(ws.recv(), 5))
                    if _valid_trade(text) is None:
                        bad.append(text)
                        if len(bad) == 3:
                            break
            assert len(bad) == 3
            assert sim.stats()["malformed_frames"] == {"binance": 3, "kraken": 0}
            counts = json.loads((tmp_path / "gt.jsonl.counts.json").read_text())
            assert counts["malformed_frames"]["binance"] == 3
            logged = (tmp_path / "gt.jsonl.malformed.jsonl").read_text().splitlines()
            assert [json.loads(line)["frame"] for line in logged] == bad

    run(scenario())


def test_server_shutdown_event_then_close(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path, shutdown_grace=0.2)) as sim:
            async with connect(sim.binance_ws_url(BTC)) as ws:
                await binance_trades(ws, 1)
                sim.inject(FaultRequest(FaultKind.SERVER_SHUTDOWN, Exchange.BINANCE))
                notices = []
                with pytest.raises(ConnectionClosed) as closed:
                    for _ in range(10_000):
                        frame = await recv_json(ws)
                        if frame["stream"] == "!serverShutdown":
                            notices.append(frame)
                assert len(notices) == 1
                assert set(notices[0]["data"]) == {"e", "E"}
                assert notices[0]["data"]["e"] == "serverShutdown"
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
            async with connect(sim.kraken_ws_url) as ws:
                await recv_json(ws)
                sim.inject(FaultRequest(FaultKind.SERVER_SHUTDOWN, Exchange.KRAKEN))
                status = await recv_json(ws)
                assert status["channel"] == "status"
                assert status["data"][0]["system"] == "maintenance"
                with pytest.raises(ConnectionClosed):
                    await recv_json(ws)

    run(scenario())


def test_disconnect_drops_the_connection_without_a_close_frame(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            async with connect(sim.binance_ws_url(BTC)) as ws:
                await binance_trades(ws, 1)
                sim.inject(FaultRequest(FaultKind.DISCONNECT, Exchange.BINANCE))
                with pytest.raises(ConnectionClosed) as closed:
                    for _ in range(10_000):
                        await recv_json(ws)
                assert closed.value.rcvd is None
            assert sim.stats()["disconnects"]["binance"] == 1

    run(scenario())


def test_stall_is_silence_without_close_until_cleared(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            ExchangeSimulator(make_config(tmp_path)) as sim,
            connect(sim.binance_ws_url(BTC), ping_interval=None) as ws,
        ):
            await binance_trades(ws, 1)
            sim.inject(FaultRequest(FaultKind.STALL, Exchange.BINANCE, duration=60))
            silent = False
            for _ in range(10_000):  # drain what was queued before the stall
                try:
                    await asyncio.wait_for(ws.recv(), 0.3)
                except TimeoutError:
                    silent = True
                    break
            assert silent
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)
            sim.clear_faults()
            assert len(await binance_trades(ws, 2)) == 2

    run(scenario())


def test_background_probabilities_stop_when_cleared(tmp_path: Path) -> None:
    config = make_config(tmp_path, fault_probabilities=FaultProbabilities(duplicate=1.0))

    async def scenario() -> None:
        async with ExchangeSimulator(config) as sim:
            async with connect(sim.binance_ws_url(BTC)) as ws:
                before = Counter(trade["t"] for trade in await binance_trades(ws, 20))
                assert max(before.values()) == 2
                status, body = await http_post(f"{sim.control_url}/control/clear", {})
                assert status == 200 and body == {"ok": True}
                after = await binance_trades(ws, 120)
            tail = Counter(trade["t"] for trade in after[60:])
            assert max(tail.values()) == 1

    run(scenario())


def test_control_endpoint_contract(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ExchangeSimulator(make_config(tmp_path)) as sim:
            base = sim.control_url
            assert await http_get(f"{base}/health") == (200, {"status": "ok"})
            status, body = await http_post(f"{base}/control/fault", {"fault": "explode"})
            assert status == 400 and body["ok"] is False
            status, body = await http_post(
                f"{base}/control/fault", {"fault": "skip", "exchange": "kraken", "count": 0}
            )
            assert status == 400
            async with connect(sim.binance_ws_url(BTC)) as ws:
                await binance_trades(ws, 1)
                status, body = await http_post(
                    f"{base}/control/fault", {"fault": "disconnect", "exchange": "binance"}
                )
                assert status == 200 and body["fault"]["fault"] == "disconnect"
                with pytest.raises(ConnectionClosed):
                    for _ in range(10_000):
                        await recv_json(ws)
            status, stats = await http_get(f"{base}/control/stats")
            assert status == 200 and stats["disconnects"] == {"binance": 1, "kraken": 0}
            assert stats["ports"]["binance"] == sim.binance_port
            assert (await http_get(f"{base}/nope"))[0] == 404

    run(scenario())


def test_scheduled_fault_fires(tmp_path: Path) -> None:
    # Several firings, so a slow machine that connects late still meets one.
    schedule = tuple(
        ScheduledFault(at, FaultRequest(FaultKind.DISCONNECT, Exchange.BINANCE))
        for at in (0.3, 0.6, 1.0, 2.0, 4.0)
    )

    async def scenario() -> None:
        async with (
            ExchangeSimulator(make_config(tmp_path, fault_schedule=schedule)) as sim,
            connect(sim.binance_ws_url(BTC)) as ws,
        ):
            with pytest.raises(ConnectionClosed):
                for _ in range(100_000):
                    await recv_json(ws)

    run(scenario())
