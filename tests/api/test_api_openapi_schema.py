"""The API against its own OpenAPI schema, over HTTP through the local API Gateway.

Schemathesis reads ``/openapi.json`` as the gateway serves it and generates requests for every
operation (the schema's examples, its coverage cases and bounded random ones, valid and invalid);
each answer must not be a server error and must match what the schema declares: its status
codes, content types and body schemas. Derandomized, so a failure reproduces in CI.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.gateway_testkit import Gateway

pytestmark = pytest.mark.integration

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

UNEXPECTED_METHODS = ["delete", "get", "options", "patch", "post", "put"]
"""Methods the coverage phase also sends to each path that does not declare them: those an API
Gateway REST API's ``ANY`` method passes to the function (where the app answers 405). TRACE and
QUERY (in schemathesis's default list) never reach the function: API Gateway, and the local one,
answer them with the MISSING_AUTHENTICATION_TOKEN gateway response (403; tested with the
gateway)."""
CONFIG = schemathesis.Config.from_dict(
    {"phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}}}
)


@pytest.fixture
def served_schema(api_gateway_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(
        f"{api_gateway_url}/openapi.json", config=CONFIG, timeout=30
    )


@pytest.fixture(autouse=True)
def _node_id_schemathesis_can_read(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32.5's lazy schemas read and rewrite ``Node._nodeid`` (to name each
    operation's subtest), an attribute pytest 9.2 replaced with ``_id``; without it every run
    ends in AttributeError before a request is made. The copy only feeds those names."""
    if not hasattr(request.node, "_nodeid"):
        setattr(request.node, "_nodeid", request.node.nodeid)  # noqa: B010


schema = schemathesis.pytest.from_fixture("served_schema")


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_every_operation_conforms_to_the_served_schema(
    case: schemathesis.Case[Any], api_gateway: Gateway
) -> None:
    case.call_and_validate(
        base_url=api_gateway.base_url,
        headers={"X-API-Key": api_gateway.generous_key},
        checks=CHECKS,
        timeout=60,
    )
