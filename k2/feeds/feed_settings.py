"""Configuration of one feed handler, from the environment (prefix ``K2_FEED_``).

Defaults point at the real exchanges; ``k2 local env`` points the URLs at the exchange simulator.
Each exchange has its own URLs and symbols, so one environment serves both handlers and only
``K2_FEED_EXCHANGE`` (or ``k2 feed --exchange``) differs between them.
Timings default to what each exchange documents: Binance closes a connection after 24 h (we
rotate well before), Kraken sends a heartbeat every second when a channel is idle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from k2.domain.markets import Exchange
from k2.domain.symbols import binance_instrument, kraken_instrument
from k2.feeds.liveness import DEFAULT_LIVENESS_FILE

DEFAULT_STALE_AFTER_S = {Exchange.BINANCE: 30.0, Exchange.KRAKEN: 10.0}
DEFAULT_ROTATE_AFTER_S = {Exchange.BINANCE: 23.5 * 3600, Exchange.KRAKEN: None}
Symbols = Annotated[tuple[str, ...], NoDecode]


class FeedSettings(BaseSettings):
    """Everything one ``k2 feed --exchange X`` process needs besides Kafka and the registry."""

    model_config = SettingsConfigDict(env_prefix="K2_FEED_", extra="ignore", frozen=True)

    exchange: Exchange = Field(description="Which exchange this process captures.")
    binance_symbols: Symbols = ("BTCUSDT", "ETHUSDT")
    kraken_symbols: Symbols = ("BTC/USD", "ETH/USD")
    binance_ws_url: str = "wss://stream.binance.com:9443"
    binance_rest_url: str = "https://api.binance.com"
    kraken_ws_url: str = "wss://ws.kraken.com/v2"
    kraken_rest_url: str = "https://api.kraken.com"
    binance_api_key: SecretStr | None = Field(
        None, description="Optional Binance API key for REST backfill (from Secrets Manager)."
    )
    queue_size: int = Field(10_000, ge=1, description="Frames buffered between socket and Kafka.")
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    stale_after_s: float | None = Field(None, gt=0, description="None: the exchange default.")
    rotate_after_s: float | None = Field(None, gt=0, description="None: the exchange default.")
    rotation_overlap_timeout_s: float = Field(30.0, gt=0)
    open_timeout_s: float = Field(10.0, gt=0)
    resume_from_kafka: bool = Field(
        True, description="On start, read the trades topic's tail so an outage is backfilled."
    )
    backfill_max_ids: int = Field(
        200_000, ge=1, description="A larger gap is recorded as unfilled without asking REST."
    )
    backfill_attempts: int = Field(5, ge=1)
    backfill_retry_delay_s: float = Field(1.0, ge=0)
    metrics_interval_s: float = Field(60.0, gt=0)
    liveness_file: Path = Field(
        DEFAULT_LIVENESS_FILE,
        description="Kept fresh for the container health check (k2.feeds.liveness).",
    )

    @field_validator("binance_symbols", "kraken_symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("binance_symbols")
    @classmethod
    def _known_binance_symbols(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        _require_some(symbols)
        for symbol in symbols:
            binance_instrument(symbol)  # UnknownSymbolError is a ValueError: a validation error
        return symbols

    @field_validator("kraken_symbols")
    @classmethod
    def _known_kraken_symbols(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        _require_some(symbols)
        for symbol in symbols:
            kraken_instrument(symbol)
        return symbols

    @property
    def exchange_symbols(self) -> tuple[str, ...]:
        if self.exchange is Exchange.BINANCE:
            return self.binance_symbols
        return self.kraken_symbols

    @property
    def websocket_url(self) -> str:
        return self.binance_ws_url if self.exchange is Exchange.BINANCE else self.kraken_ws_url

    @property
    def rest_base_url(self) -> str:
        return self.binance_rest_url if self.exchange is Exchange.BINANCE else self.kraken_rest_url

    @property
    def stale_after(self) -> float:
        return self.stale_after_s or DEFAULT_STALE_AFTER_S[self.exchange]

    @property
    def rotate_after(self) -> float | None:
        return self.rotate_after_s or DEFAULT_ROTATE_AFTER_S[self.exchange]


def _require_some(symbols: tuple[str, ...]) -> None:
    if not symbols:
        raise ValueError("at least one symbol is required")
