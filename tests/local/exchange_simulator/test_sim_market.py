"""Seeded markets are deterministic and realistic; the small pure pieces behave."""

from __future__ import annotations

import itertools
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from k2.domain.markets import Exchange
from k2.local.exchange_simulator import (
    ExchangeSimulator,
    FaultProbabilities,
    FaultRequest,
    FaultRequestError,
    SimulatorConfig,
)
from k2.local.exchange_simulator.config import symbol_spec
from k2.local.exchange_simulator.jsonfmt import RawNumber, dumps
from k2.local.exchange_simulator.kraken_protocol import rest_pair_names, rfc3339
from k2.local.exchange_simulator.market import SymbolMarket
from tests.local.exchange_simulator.sim_testkit import (
    binance_trades,
    ground_truth,
    make_config,
    run,
)

pytestmark = pytest.mark.unit


def _tape(seed: int, exchange: Exchange, symbol: str) -> list[tuple[Any, ...]]:
    market = SymbolMarket(exchange, symbol_spec(exchange, symbol), seed)
    tape: list[tuple[Any, ...]] = []
    for step in range(300):
        trades, _ = market.trade_batch(1_700_000_000_000_000 + step, 1 + step % 4)
        tape.extend((t.trade_id, t.price, t.qty, t.side, t.time_us) for t in trades)
    return tape


def _relative_ids(tape: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(row[0] - tape[0][0], *row[1:]) for row in tape]


def test_a_seed_fixes_the_tape() -> None:
    first = _tape(7, Exchange.BINANCE, "BTCUSDT")
    assert _relative_ids(first) == _relative_ids(_tape(7, Exchange.BINANCE, "BTCUSDT"))
    assert _relative_ids(first) != _relative_ids(_tape(8, Exchange.BINANCE, "BTCUSDT"))
    ids = [row[0] for row in first]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    times = [row[4] for row in first]
    assert all(b > a for a, b in itertools.pairwise(times))


@pytest.mark.parametrize("exchange", list(Exchange))
def test_a_restarted_market_never_reissues_an_earlier_runs_ids(exchange: Exchange) -> None:
    symbol = "BTCUSDT" if exchange is Exchange.BINANCE else "BTC/USD"
    earlier = SymbolMarket(exchange, symbol_spec(exchange, symbol), 7)
    trades, _ = earlier.trade_batch(1_700_000_000_000_000, 5)
    time.sleep(0.05)  # 50 ms later: well under 1,000 trades/s for the earlier run
    later = SymbolMarket(exchange, symbol_spec(exchange, symbol), 7)
    assert later.next_trade_id > trades[-1].trade_id


@pytest.mark.parametrize(
    ("exchange", "symbol", "low", "high"),
    [
        (Exchange.BINANCE, "BTCUSDT", 10_000, 200_000),
        (Exchange.BINANCE, "ETHUSDT", 500, 20_000),
        (Exchange.KRAKEN, "BTC/USD", 10_000, 200_000),
        (Exchange.KRAKEN, "ETH/USD", 500, 20_000),
    ],
)
def test_prices_are_realistic_and_on_the_tick(
    exchange: Exchange, symbol: str, low: int, high: int
) -> None:
    spec = symbol_spec(exchange, symbol)
    for _, price, qty, side, _ in _tape(3, exchange, symbol):
        assert low < price < high
        assert price % spec.tick_size == 0 and qty % spec.qty_step == 0 and qty > 0
        assert side in ("buy", "sell")


def test_the_same_seed_gives_the_same_ground_truth_run_after_run(tmp_path: Path) -> None:
    async def tape(seed: int, name: str) -> list[dict[str, Any]]:
        path = tmp_path / name
        config = make_config(tmp_path, seed=seed, ground_truth=path, wait_for_subscriber=True)
        async with (
            ExchangeSimulator(config) as sim,
            connect(sim.binance_ws_url(["btcusdt@trade", "ethusdt@trade"])) as ws,
        ):
            await binance_trades(ws, 60)
        rows = ground_truth(path)[:60]
        first_ids = {row["symbol"]: row["trade_id"] for row in reversed(rows)}
        for row in rows:
            del row["time_us"]  # the wall clock decides times and where ids start
            row["trade_id"] -= first_ids[row["symbol"]]
        return rows

    async def scenario() -> None:
        first = await tape(11, "a.jsonl")
        assert len(first) == 60
        assert first == await tape(11, "b.jsonl")
        assert first != await tape(12, "c.jsonl")

    run(scenario())


def test_json_numbers_keep_their_exact_digits() -> None:
    text = dumps({"p": Decimal("65000.10"), "q": Decimal("0.00012300"), "t": RawNumber("1.5")})
    assert text == '{"p":65000.1,"q":0.000123,"t":1.5}'
    assert json.loads(text, parse_float=Decimal)["q"] == Decimal("0.000123")
    assert dumps([Decimal("5"), None, True, "x"]) == '[5.0,null,true,"x"]'


def test_kraken_names_and_timestamps() -> None:
    assert rest_pair_names("BTC/USD") == ("XBTUSD", "XXBTZUSD")
    assert rest_pair_names("ETH/USD") == ("ETHUSD", "XETHZUSD")
    assert rest_pair_names("SOL/USD") == ("SOLUSD", "SOLUSD")
    assert rfc3339(1_695_628_116_925_533) == "2023-09-25T07:48:36.925533Z"


def test_fault_requests_are_validated() -> None:
    request = FaultRequest.from_json({"fault": "stall", "exchange": "kraken", "duration": 2})
    assert request.exchange is Exchange.KRAKEN and request.duration == 2.0
    for bad in (
        {"fault": "explode"},
        {"fault": "skip", "count": -1},
        {"fault": "skip", "exchange": "coinbase"},
        {"fault": "malformed", "kind": "odd"},
        {"fault": "skip", "colour": "red"},
    ):
        with pytest.raises(FaultRequestError):
            FaultRequest.from_json(bad)
    assert FaultProbabilities.parse("skip=0.5, stall=0.1") == FaultProbabilities(
        skip=0.5, stall=0.1
    )
    with pytest.raises(FaultRequestError):
        FaultProbabilities.parse("skip=2")


def test_only_loopback_hosts_are_accepted() -> None:
    assert SimulatorConfig(host="127.0.0.1").host == "127.0.0.1"
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):  # noqa: S104 (refused on purpose)
        with pytest.raises(ValueError, match="loopback"):
            SimulatorConfig(host=host)
