"""One API test lake, one loaded Lambda handler and one local API Gateway per session, shared
by the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from k2.local.cloud import LocalCloud
from k2.settings import K2Settings
from tests.api.api_testkit import ApiLake, build_api_lake, load_handler_module
from tests.api.gateway_testkit import Gateway, start_gateway

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def api_lake(spark: SparkSession, k2_settings: K2Settings) -> ApiLake:
    return build_api_lake(spark, k2_settings)


@pytest.fixture(scope="session")
def api_handler(api_lake: ApiLake) -> ModuleType:
    return load_handler_module(api_lake.settings)


@pytest.fixture(scope="session")
def api_gateway(
    api_lake: ApiLake, local_cloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """A local API Gateway process in front of the handler, over the API test lake."""
    gateway = start_gateway(
        tmp_path_factory.mktemp("api-gateway"),
        local_cloud.layout.client_environment(),
        api_lake.settings,
    )
    try:
        yield gateway
    finally:
        gateway.process.stop()


@pytest.fixture(scope="session")
def api_gateway_url(api_gateway: Gateway) -> str:
    return api_gateway.base_url
