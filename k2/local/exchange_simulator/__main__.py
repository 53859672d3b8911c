"""``python -m k2.local.exchange_simulator``: run the simulator until SIGINT/SIGTERM.

Prints one JSON line ``{"event": "ready", "ports": {...}}`` on stdout once every port is bound
(so a caller that asked for port 0 learns the real ports), then runs until signalled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import SimulatorConfig
from .faults import FaultProbabilities, FaultRequestError, ScheduledFault
from .server import ExchangeSimulator


def _symbols(text: str) -> tuple[str, ...]:
    return tuple(symbol.strip() for symbol in text.split(",") if symbol.strip())


def _schedule(text: str) -> tuple[ScheduledFault, ...]:
    """A JSON list of ``{"at": seconds, "fault": ..., ...}``, inline or ``@file``."""
    raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    items = json.loads(raw)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise FaultRequestError("the fault schedule must be a JSON list of objects")
    return tuple(ScheduledFault.from_json(item) for item in items)


def build_parser() -> argparse.ArgumentParser:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m k2.local.exchange_simulator",
        description="Simulated Binance and Kraken exchanges on loopback, with fault injection.",
    )
    parser.add_argument("--host", default=defaults.host, help="loopback address only")
    parser.add_argument("--binance-port", type=int, default=0)
    parser.add_argument("--kraken-port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--rate",
        type=float,
        default=defaults.rate,
        help="average trades per second per exchange; 0 = as fast as possible",
    )
    parser.add_argument("--ground-truth", type=Path, default=None, help="JSON-lines trade log")
    parser.add_argument("--binance-symbols", default=",".join(defaults.binance_symbols))
    parser.add_argument("--kraken-symbols", default=",".join(defaults.kraken_symbols))
    parser.add_argument("--ping-interval", type=float, default=defaults.ping_interval)
    parser.add_argument("--ping-timeout", type=float, default=defaults.ping_timeout)
    parser.add_argument(
        "--max-lifetime",
        type=float,
        default=defaults.binance_max_lifetime,
        help="seconds before Binance closes a connection (24 h on the real exchange)",
    )
    parser.add_argument("--heartbeat-interval", type=float, default=defaults.heartbeat_interval)
    parser.add_argument("--shutdown-grace", type=float, default=defaults.shutdown_grace)
    parser.add_argument("--stall-duration", type=float, default=defaults.stall_duration)
    parser.add_argument(
        "--fault-probabilities",
        default="",
        help="e.g. skip=0.001,duplicate=0.001,malformed=0.0005,disconnect=0.01 (per s)",
    )
    parser.add_argument(
        "--fault-schedule",
        default="",
        help='JSON list, inline or @file: [{"at": 5, "fault": "disconnect"}]',
    )
    parser.add_argument(
        "--wait-for-subscriber",
        action="store_true",
        help="start each market only when its first client subscribes",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        host=args.host,
        binance_port=args.binance_port,
        kraken_port=args.kraken_port,
        control_port=args.control_port,
        seed=args.seed,
        rate=args.rate,
        binance_symbols=_symbols(args.binance_symbols),
        kraken_symbols=_symbols(args.kraken_symbols),
        ground_truth=args.ground_truth,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        binance_max_lifetime=args.max_lifetime,
        heartbeat_interval=args.heartbeat_interval,
        shutdown_grace=args.shutdown_grace,
        stall_duration=args.stall_duration,
        wait_for_subscriber=args.wait_for_subscriber,
        fault_probabilities=FaultProbabilities.parse(args.fault_probabilities),
        fault_schedule=_schedule(args.fault_schedule) if args.fault_schedule else (),
    )


async def run(config: SimulatorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with ExchangeSimulator(config) as simulator:
        print(json.dumps({"event": "ready", "ports": simulator.stats()["ports"]}), flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr)
    try:
        config = config_from_args(args)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    asyncio.run(run(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
