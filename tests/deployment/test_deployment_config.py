"""The deployment config: the defaults are a valid deployment, cdk.json context merges in a
documented order, and a bad value fails at synth time with an error that names the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from k2.deployment.config import (
    DeploymentConfig,
    Engine,
    FeedHandlerSize,
    MskMode,
    load_deployment_config,
)
from k2.domain.markets import Exchange

pytestmark = pytest.mark.unit

CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"


def _error_locations(error: ValidationError) -> list[tuple[int | str, ...]]:
    return [tuple(detail["loc"]) for detail in error.errors()]


def test_defaults_are_a_valid_deployment() -> None:
    config = DeploymentConfig()
    assert config == load_deployment_config({})
    assert config.environment == "dev"
    assert config.exchanges == (Exchange.BINANCE, Exchange.KRAKEN)
    assert config.symbols(Exchange.BINANCE) == ("BTCUSDT", "ETHUSDT")
    assert config.symbols(Exchange.KRAKEN) == ("BTC/USD", "ETH/USD")
    assert (config.engine, config.msk) == (Engine.GLUE, MskMode.SERVERLESS)
    assert config.region is None and config.alarm_email is None
    # Re-validating what the model itself produced must pass (nothing depends on input order).
    assert DeploymentConfig.model_validate(config.model_dump()) == config


def test_resource_name_prefixes_the_environment() -> None:
    assert DeploymentConfig().resource_name("lake") == "k2-dev-lake"
    assert DeploymentConfig(environment="prod-eu").resource_name("api") == "k2-prod-eu-api"


def test_config_is_frozen() -> None:
    """The stacks and ``k2 cost`` share one object; none may change it under the others."""
    config = DeploymentConfig()
    with pytest.raises(ValidationError):
        config.environment = "prod"  # type: ignore[misc]


def _config_file(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / "k2-config.json"
    path.write_text(json.dumps(values))
    return str(path)


def test_context_merge_order(tmp_path: Path) -> None:
    """``k2`` object < the ``k2:config`` file < ``k2:<field>``; objects merge key by key, so a
    nested override keeps its siblings."""
    base = {
        "environment": "base",
        "max_azs": 3,
        "schedules": {"pipeline_minutes": 30, "ohlcv_minutes": 2},
    }
    file_values = {"environment": "from-file", "nat_gateways": 2, "schedules": {"ohlcv_minutes": 3}}
    context: dict[str, Any] = {
        "k2": base,
        "k2:config": _config_file(tmp_path, file_values),
        "@aws-cdk/core:defaultCrossStackReferences": "strong",  # not K2's: ignored
    }

    from_file = load_deployment_config(context)
    assert from_file.environment == "from-file"
    assert (from_file.max_azs, from_file.nat_gateways) == (3, 2)
    assert from_file.schedules.pipeline_minutes == 30  # kept from the k2 object
    assert from_file.schedules.ohlcv_minutes == 3

    overridden = load_deployment_config(
        {**context, "k2:environment": "cli", "k2:schedules.ohlcv_minutes": "10"}
    )
    assert overridden.environment == "cli"
    assert overridden.schedules.ohlcv_minutes == 10
    assert overridden.schedules.pipeline_minutes == 30
    assert (overridden.max_azs, overridden.nat_gateways) == (3, 2)
    assert base == {  # the context is not modified in place
        "environment": "base",
        "max_azs": 3,
        "schedules": {"pipeline_minutes": 30, "ohlcv_minutes": 2},
    }


def test_command_line_values_are_decoded_as_json_when_they_are_json() -> None:
    """``-c`` delivers strings: JSON ones become lists, numbers and objects; others stay text."""
    config = load_deployment_config(
        {
            "k2:exchanges": '["kraken"]',
            "k2:api.rate_limit_rps": "12.5",
            "k2:feed_handler": '{"cpu": 1024, "memory_mib": 4096}',
            "k2:alarm_email": "ops@example.com",
            "k2:region": "eu-west-1",
            "k2:max_azs": 3,  # cdk.json context keeps JSON types
            "k2:engine": "emr-serverless",
        }
    )
    assert config.exchanges == (Exchange.KRAKEN,)
    assert config.api.rate_limit_rps == 12.5
    assert config.feed_handler == FeedHandlerSize(cpu=1024, memory_mib=4096)
    assert config.alarm_email == "ops@example.com"
    assert config.region == "eu-west-1"
    assert config.max_azs == 3
    assert config.engine is Engine.EMR_SERVERLESS


@pytest.mark.parametrize("name", ["Prod", "1dev", "dev_1", "dev env", "", "a" * 21, "dév"])
def test_invalid_environment_names(name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DeploymentConfig(environment=name)
    assert _error_locations(raised.value) == [("environment",)]


def test_valid_environment_names() -> None:
    for name in ("dev", "prod-eu-1", "a", "a" * 20):
        assert DeploymentConfig(environment=name).environment == name


@pytest.mark.parametrize(
    ("context", "location"),
    [
        ({"k2": {"colour": "blue"}}, ("colour",)),
        ({"k2:colour": "blue"}, ("colour",)),
        ({"k2:schedules.every_minutes": "5"}, ("schedules", "every_minutes")),
        ({"k2": {"api": {"memory": 512}}}, ("api", "memory")),
    ],
)
def test_unknown_fields_are_refused(context: dict[str, Any], location: tuple[str, ...]) -> None:
    """A typo in cdk.json must fail the synth, not silently deploy the default."""
    with pytest.raises(ValidationError) as raised:
        load_deployment_config(context)
    assert _error_locations(raised.value) == [location]


@pytest.mark.parametrize(
    ("cpu", "memory_mib"),
    [(256, 4096), (512, 512), (512, 8192), (1024, 2500), (300, 1024), (4096, 8192)],
)
def test_bad_fargate_combinations(cpu: int, memory_mib: int) -> None:
    with pytest.raises(ValidationError) as raised:
        DeploymentConfig.model_validate({"feed_handler": {"cpu": cpu, "memory_mib": memory_mib}})
    assert _error_locations(raised.value) == [("feed_handler",)]
    assert "Fargate" in str(raised.value)


@pytest.mark.parametrize(
    ("cpu", "memory_mib"), [(256, 512), (256, 2048), (512, 1536), (2048, 16384)]
)
def test_good_fargate_combinations(cpu: int, memory_mib: int) -> None:
    size = FeedHandlerSize(cpu=cpu, memory_mib=memory_mib)
    assert (size.cpu, size.memory_mib) == (cpu, memory_mib)


@pytest.mark.parametrize("exchanges", [[], ["binance", "binance"]])
def test_exchanges_must_be_some_and_distinct(exchanges: list[str]) -> None:
    with pytest.raises(ValidationError) as raised:
        DeploymentConfig.model_validate({"exchanges": exchanges})
    assert _error_locations(raised.value) == [("exchanges",)]


def test_unknown_exchange() -> None:
    with pytest.raises(ValidationError) as raised:
        load_deployment_config({"k2:exchanges": '["coinbase"]'})
    assert _error_locations(raised.value) == [("exchanges", 0)]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"binance_symbols": ["BTCXYZ"]}, "BTCXYZ"),
        ({"kraken_symbols": ["BTCUSD"]}, "BTCUSD"),  # Kraken spells it BTC/USD
        ({"kraken_symbols": []}, "kraken"),
    ],
)
def test_unknown_or_missing_symbols(values: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DeploymentConfig.model_validate(values)
    assert named in str(raised.value)


def test_symbols_of_an_exchange_not_deployed_are_not_checked() -> None:
    """Only configured exchanges need symbols; a Kraken-only deployment may leave Binance's."""
    config = DeploymentConfig.model_validate({"exchanges": ["kraken"], "binance_symbols": []})
    assert config.exchanges == (Exchange.KRAKEN,)


def test_unknown_symbol_error_names_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        DeploymentConfig.model_validate({"binance_symbols": ["BTCXYZ"]})
    assert _error_locations(raised.value)[0][0] == "binance_symbols"


def test_the_whole_k2_object_may_come_as_json_text() -> None:
    """``cdk synth -c k2='{"environment": "qa"}'`` hands the app a string, not an object."""
    assert load_deployment_config({"k2": '{"environment": "qa"}'}).environment == "qa"
    with pytest.raises(ValueError, match="JSON object"):
        load_deployment_config({"k2": "qa"})


def test_repository_cdk_json() -> None:
    """What ``cdk synth`` in the repository root deploys: its ``k2`` context is valid, and
    cross-stack references stay strong (CloudFormation exports, so a stack still referenced by
    another cannot be deleted or have the referenced output changed under it)."""
    cdk = json.loads(CDK_JSON.read_text())
    context = cdk["context"]
    assert context["@aws-cdk/core:defaultCrossStackReferences"] == "strong"
    config = load_deployment_config(context)
    assert config == DeploymentConfig.model_validate(context["k2"])
    assert config.environment == "dev"
