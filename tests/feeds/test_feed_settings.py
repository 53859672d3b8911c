"""FeedSettings: exchange defaults, and what the ``K2_FEED_*`` environment turns into."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr, ValidationError

from k2.domain.markets import Exchange
from k2.feeds.feed_settings import FeedSettings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``K2_FEED_*`` variable from the developer's shell (or ``k2 local env``) leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("K2_FEED_"):
            monkeypatch.delenv(name)


def test_the_exchange_must_be_chosen() -> None:
    with pytest.raises(ValidationError) as raised:
        FeedSettings()

    assert [(error["loc"], error["type"]) for error in raised.value.errors()] == [
        (("exchange",), "missing")
    ]


def test_binance_defaults_symbols_urls_and_timings() -> None:
    settings = FeedSettings(exchange=Exchange.BINANCE)

    assert settings.exchange_symbols == ("BTCUSDT", "ETHUSDT")
    assert settings.websocket_url == "wss://stream.binance.com:9443"
    assert settings.rest_base_url == "https://api.binance.com"
    assert settings.stale_after == 30.0
    assert settings.rotate_after == 23.5 * 3600  # before Binance's 24 h disconnect
    assert settings.binance_api_key is None


def test_kraken_defaults() -> None:
    settings = FeedSettings(exchange=Exchange.KRAKEN)

    assert settings.exchange_symbols == ("BTC/USD", "ETH/USD")
    assert settings.websocket_url == "wss://ws.kraken.com/v2"
    assert settings.rest_base_url == "https://api.kraken.com"
    assert settings.stale_after == 10.0
    assert settings.rotate_after is None  # Kraken does not close connections on a timer


def test_the_other_defaults() -> None:
    settings = FeedSettings(exchange=Exchange.BINANCE)

    assert settings.queue_size == 10_000
    assert (settings.backoff_initial_s, settings.backoff_max_s) == (0.5, 30.0)
    assert settings.rotation_overlap_timeout_s == 30.0
    assert settings.open_timeout_s == 10.0
    assert (settings.backfill_attempts, settings.backfill_retry_delay_s) == (5, 1.0)
    assert settings.metrics_interval_s == 60.0


def test_the_environment_chooses_the_exchange_and_splits_symbol_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("K2_FEED_EXCHANGE", "kraken")
    monkeypatch.setenv("K2_FEED_BINANCE_SYMBOLS", "BTCUSDT, SOLUSDT")
    monkeypatch.setenv("K2_FEED_KRAKEN_SYMBOLS", " SOL/USD ,, XBT/USD,")
    monkeypatch.setenv("K2_FEED_KRAKEN_WS_URL", "ws://127.0.0.1:18766/v2")
    monkeypatch.setenv("K2_FEED_KRAKEN_REST_URL", "http://127.0.0.1:18766")

    settings = FeedSettings()

    assert settings.exchange is Exchange.KRAKEN
    assert settings.binance_symbols == ("BTCUSDT", "SOLUSDT")
    assert settings.kraken_symbols == ("SOL/USD", "XBT/USD")  # blanks and padding dropped
    assert settings.exchange_symbols == ("SOL/USD", "XBT/USD")
    assert settings.websocket_url == "ws://127.0.0.1:18766/v2"
    assert settings.rest_base_url == "http://127.0.0.1:18766"


def test_a_single_symbol_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2_FEED_EXCHANGE", "binance")
    monkeypatch.setenv("K2_FEED_BINANCE_SYMBOLS", "BTCUSDT")

    assert FeedSettings().exchange_symbols == ("BTCUSDT",)


def test_explicit_timings_from_the_environment_override_the_exchange_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("K2_FEED_EXCHANGE", "kraken")
    monkeypatch.setenv("K2_FEED_STALE_AFTER_S", "2.5")
    monkeypatch.setenv("K2_FEED_ROTATE_AFTER_S", "600")
    monkeypatch.setenv("K2_FEED_QUEUE_SIZE", "16")

    settings = FeedSettings()

    assert settings.stale_after == 2.5
    assert settings.rotate_after == 600.0
    assert settings.queue_size == 16


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("K2_FEED_EXCHANGE", "coinbase"),
        ("K2_FEED_BINANCE_SYMBOLS", "BTCUSDT,NOTASYMBOL"),
        ("K2_FEED_BINANCE_SYMBOLS", " , "),
        ("K2_FEED_KRAKEN_SYMBOLS", "BTCUSD"),
        ("K2_FEED_KRAKEN_SYMBOLS", ""),
        ("K2_FEED_STALE_AFTER_S", "0"),
        ("K2_FEED_STALE_AFTER_S", "-1"),
        ("K2_FEED_STALE_AFTER_S", "soon"),
        ("K2_FEED_ROTATE_AFTER_S", "0"),
        ("K2_FEED_QUEUE_SIZE", "0"),
        ("K2_FEED_BACKOFF_INITIAL_S", "0"),
        ("K2_FEED_BACKOFF_MAX_S", "-5"),
        ("K2_FEED_BACKFILL_ATTEMPTS", "0"),
        ("K2_FEED_BACKFILL_RETRY_DELAY_S", "-0.1"),
        ("K2_FEED_METRICS_INTERVAL_S", "0"),
        ("K2_FEED_OPEN_TIMEOUT_S", "0"),
    ],
)
def test_invalid_values_in_the_environment_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    if variable != "K2_FEED_EXCHANGE":
        monkeypatch.setenv("K2_FEED_EXCHANGE", "binance")
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as raised:
        FeedSettings()

    field_name = variable.removeprefix("K2_FEED_").lower()
    assert [error["loc"][0] for error in raised.value.errors()] == [field_name]


def test_a_zero_retry_delay_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2_FEED_EXCHANGE", "binance")
    monkeypatch.setenv("K2_FEED_BACKFILL_RETRY_DELAY_S", "0")

    assert FeedSettings().backfill_retry_delay_s == 0.0


def test_settings_are_frozen() -> None:
    settings = FeedSettings(exchange=Exchange.KRAKEN)

    with pytest.raises(ValidationError):
        settings.queue_size = 5  # type: ignore[misc]


def test_the_api_key_is_a_secret_that_no_repr_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2_FEED_EXCHANGE", "binance")
    monkeypatch.setenv("K2_FEED_BINANCE_API_KEY", "super-secret-key-123")

    settings = FeedSettings()

    assert isinstance(settings.binance_api_key, SecretStr)
    assert settings.binance_api_key.get_secret_value() == "super-secret-key-123"
    for shown in (repr(settings), str(settings), repr(settings.model_dump())):
        assert "super-secret-key-123" not in shown
    assert "super-secret-key-123" not in settings.model_dump_json()
