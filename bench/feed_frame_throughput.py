"""Frames per second per core: parse, normalise and serialise exchange frames, single-threaded.

    .venv/bin/python -m bench.feed_frame_throughput [--frames 20000] [--repeats 7] [--profile]

No local cloud needed. First (untimed) it records ``--frames`` real frames per exchange from the
in-process exchange simulator (see ``bench/feed_corpus.py``). Then, per exchange, each stage is
timed over the whole corpus ``--repeats`` times with ``time.perf_counter`` (best and median):

* parse: ``k2.feeds.{binance,kraken}.parse_frame`` (what ``ExchangeFeed.parse`` calls);
* normalise: ``to_trade_v2`` / ``to_quote_v2`` of every parsed record;
* serialise: Avro (``encode_avro``) + Glue Schema Registry framing (``frame``) of every RAW
  record, as ``MarketDataPublisher.publish`` does, with a fixed version id (no registry);
* pipeline: all three, frame by frame;
* handler path: parse + serialise, frame by frame (the handler publishes raw records only).

Baseline in the same run: plain ``json.loads`` of the same frames, the floor any parser pays.
For orientation, also ``json.loads`` the way ``FrameReader`` calls it (bytes round trip, every
number kept as its text through ``parse_int``/``parse_float`` hooks).
``--profile`` adds a cProfile of one pipeline pass per exchange (top functions by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from bench.feed_corpus import Parser, parser, quiet_logging, record_frames
from k2.domain.markets import Exchange
from k2.feeds import binance, kraken
from k2.feeds.avro_records import RawRecord, avro_record
from k2.feeds.avro_schemas import parse_schema, schema_definition
from k2.feeds.frames import JsonNumber
from k2.feeds.glue_schema_registry import encode_avro, frame

VERSION_ID = UUID("00000000-0000-4000-8000-00000000b0b0")
RECEIVED_AT_US = 1_790_000_000_000_000


@dataclass(frozen=True)
class Stages:
    """One exchange's functions, as the handler (and silver) would call them."""

    parse: Parser
    normalise_trade: Callable[[Any], object]
    normalise_quote: Callable[[Any], object]
    schemas: dict[str, Any]

    def serialise(self, record: RawRecord) -> bytes:
        body = encode_avro(self.schemas[record.AVRO_SCHEMA], avro_record(record))
        return frame(VERSION_ID, body)

    def pipeline(self, frames: list[str]) -> int:
        """Parse, normalise and serialise every frame; returns the bytes produced."""
        produced = 0
        for text in frames:
            parsed = self.parse(text, RECEIVED_AT_US)
            for trade in parsed.trades:
                self.normalise_trade(trade)
                produced += len(self.serialise(trade))
            for quote in parsed.quotes:
                self.normalise_quote(quote)
                produced += len(self.serialise(quote))
        return produced

    def handler_path(self, frames: list[str]) -> int:
        """Parse and serialise every frame (no normalisation, as the feed handler does)."""
        produced = 0
        for text in frames:
            parsed = self.parse(text, RECEIVED_AT_US)
            for record in (*parsed.trades, *parsed.quotes):
                produced += len(self.serialise(record))
        return produced


def stages(exchange: Exchange) -> Stages:
    names = (
        ("binance_raw_trade", "binance_raw_quote")
        if exchange is Exchange.BINANCE
        else ("kraken_raw_trade", "kraken_raw_quote")
    )
    schemas = {name: parse_schema(schema_definition(name)) for name in names}
    if exchange is Exchange.BINANCE:
        return Stages(parser(exchange), binance.to_trade_v2, binance.to_quote_v2, schemas)
    return Stages(parser(exchange), kraken.to_trade_v2, kraken.to_quote_v2, schemas)


def timings(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) seconds of ``repeats`` calls."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return min(seconds), statistics.median(seconds)


def bench_exchange(exchange: Exchange, frames: list[str], repeats: int, profile: bool) -> None:
    pipeline = stages(exchange)
    parsed = [pipeline.parse(text, RECEIVED_AT_US) for text in frames]
    trades = [trade for p in parsed for trade in p.trades]
    quotes = [quote for p in parsed for quote in p.quotes]
    records: list[RawRecord] = [*trades, *quotes]
    sizes = [len(pipeline.serialise(record)) for record in records]
    n = len(frames)

    def loads() -> None:
        for text in frames:
            json.loads(text)

    def loads_numbers_as_text() -> None:
        for text in frames:
            json.loads(text.encode().decode(), parse_float=JsonNumber, parse_int=JsonNumber)

    def parse() -> None:
        for text in frames:
            pipeline.parse(text, RECEIVED_AT_US)

    def normalise() -> None:
        for trade in trades:
            pipeline.normalise_trade(trade)
        for quote in quotes:
            pipeline.normalise_quote(quote)

    def serialise() -> None:
        for record in records:
            pipeline.serialise(record)

    gc.collect()
    gc.freeze()  # the corpus and the pre-parsed records are not the handler's heap: never scan them
    baseline, baseline_median = timings(loads, repeats)
    results = {
        "json.loads, numbers as text": timings(loads_numbers_as_text, repeats),
        "parse": timings(parse, repeats),
        "normalise": timings(normalise, repeats),
        "serialise (Avro + GSR frame)": timings(serialise, repeats),
        "handler path (parse+serialise)": timings(lambda: pipeline.handler_path(frames), repeats),
        "pipeline (all three)": timings(lambda: pipeline.pipeline(frames), repeats),
    }
    controls = sum(1 for p in parsed if p.control is not None)
    print(
        f"\n{exchange.value}: {n} frames ({len(trades)} trades, {len(quotes)} quotes, "
        f"{controls} control); {statistics.mean(len(f) for f in frames):.0f} B/frame in, "
        f"{statistics.mean(sizes):.0f} B/record out"
    )
    print(f"  {'stage':32} {'frames/s best':>14} {'median':>10} {'us/frame':>9}  vs baseline")
    print(
        f"  {'baseline: json.loads':32} {n / baseline:14,.0f} {n / baseline_median:10,.0f} "
        f"{baseline / n * 1e6:9.2f}"
    )
    for name, (best, median) in results.items():
        print(
            f"  {name:32} {n / best:14,.0f} {n / median:10,.0f} {best / n * 1e6:9.2f}"
            f"  {baseline / best:5.3f}x ({best / baseline:4.1f}x slower)"
        )
    gc.unfreeze()
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(pipeline.pipeline, frames)
        print(f"  cProfile of one pipeline pass ({exchange.value}), by own time:")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def main() -> None:
    parser_ = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser_.add_argument("--frames", type=int, default=20_000, help="frames per exchange")
    parser_.add_argument("--repeats", type=int, default=7, help="timed passes per stage")
    parser_.add_argument("--seed", type=int, default=7, help="simulator seed")
    parser_.add_argument("--exchange", choices=[e.value for e in Exchange], action="append")
    parser_.add_argument("--profile", action="store_true", help="cProfile one pipeline pass")
    args = parser_.parse_args()
    quiet_logging()
    exchanges = [Exchange(value) for value in args.exchange or [e.value for e in Exchange]]
    corpus = {
        exchange: asyncio.run(record_frames(exchange, args.frames, seed=args.seed))
        for exchange in exchanges
    }
    print(f"single thread, best and median of {args.repeats} passes over each corpus")
    for exchange in exchanges:
        bench_exchange(exchange, corpus[exchange], args.repeats, args.profile)


if __name__ == "__main__":
    main()
