"""One API test lake and one loaded Lambda handler per session, shared by the API tests."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from k2.settings import K2Settings
from tests.api.api_testkit import ApiLake, build_api_lake, load_handler_module

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def api_lake(spark: SparkSession, k2_settings: K2Settings) -> ApiLake:
    return build_api_lake(spark, k2_settings)


@pytest.fixture(scope="session")
def api_handler(api_lake: ApiLake) -> ModuleType:
    return load_handler_module(api_lake.settings)
