"""The API Gateway contract: the error responses the CDK stack customises are the ones API
Gateway actually sends, with codes clients can tell apart, and the local gateway answers with
the very same definitions (there is no second copy of a code to drift)."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

import k2.local.api_gateway as local_gateway
from k2.api.gateway_contract import (
    API_KEY_HEADER,
    GATEWAY_ERROR_BY_TYPE,
    GATEWAY_ERRORS,
    KEYLESS_ROUTES,
    GatewayError,
)
from k2.local.api_gateway import ApiGateway, LambdaFunction, contract_error
from k2.local.api_gateway_events import HttpResponse
from k2.local.usage_plans import ApiKey, Plan, Quota, QuotaPeriod, UsagePlans, UsagePlansConfig

pytestmark = pytest.mark.unit

# The status API Gateway sends for each response type (its GatewayResponseType defaults).
API_GATEWAY_STATUS = {
    "INVALID_API_KEY": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "THROTTLED": 429,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
}


def test_each_response_type_once_with_api_gateway_s_status() -> None:
    types = [error.response_type for error in GATEWAY_ERRORS]
    assert len(types) == len(set(types))
    assert {error.response_type: error.status for error in GATEWAY_ERRORS} == API_GATEWAY_STATUS


def test_codes_are_distinct_snake_case_and_messages_say_something() -> None:
    """Two 403s and two 429s: only the code tells a client which one it got."""
    codes = [error.code for error in GATEWAY_ERRORS]
    assert len(codes) == len(set(codes))
    assert all(code.replace("_", "").isalpha() and code.islower() for code in codes)
    assert all(error.message.strip() for error in GATEWAY_ERRORS)


@pytest.mark.parametrize("error", GATEWAY_ERRORS, ids=lambda error: error.response_type)
def test_only_429s_carry_a_retry_after(error: GatewayError) -> None:
    if error.status == 429:
        assert error.retry_after_s is not None and error.retry_after_s >= 1
    else:
        assert error.retry_after_s is None


def test_lookup_by_type_is_the_same_definitions() -> None:
    assert dict(GATEWAY_ERROR_BY_TYPE) == {error.response_type: error for error in GATEWAY_ERRORS}
    with pytest.raises(TypeError):  # read-only: nobody patches a code locally
        GATEWAY_ERROR_BY_TYPE["THROTTLED"] = GATEWAY_ERRORS[0]  # type: ignore[index]


def test_keyless_routes_are_reads_and_the_local_gateway_shares_them() -> None:
    assert all(method == "GET" and path.startswith("/") for method, path in KEYLESS_ROUTES)
    assert ("GET", "/health") in KEYLESS_ROUTES
    assert vars(local_gateway)["KEYLESS_ROUTES"] is KEYLESS_ROUTES
    assert vars(local_gateway)["API_KEY_HEADER"] is API_KEY_HEADER


# --- the local gateway answers with the contract ---------------------------------------------

KEY = "k2-contract-test-key-0001"


def _error(response: HttpResponse) -> tuple[int, str]:
    body = json.loads(response.body)
    assert body["success"] is False
    return response.status, body["error"]["code"]


@pytest.mark.parametrize("error", GATEWAY_ERRORS, ids=lambda error: error.response_type)
def test_contract_error_uses_the_contract_status_and_code(error: GatewayError) -> None:
    response = contract_error(error.response_type, "detail", [("Retry-After", "7")])
    assert _error(response) == (error.status, error.code)
    assert ("Retry-After", "7") in response.headers


def _gateway(plan: Plan, now: float = 1_800_000_000.0) -> ApiGateway:
    config = UsagePlansConfig(
        keys=[ApiKey(id="contract1", name="contract", value=KEY, plan="only")],
        plans={"only": plan},
    )
    # Admission never calls the function, so it need not exist.
    function = LambdaFunction(Path("/nonexistent/handler.py"), "handler")
    return ApiGateway(UsagePlans(config, clock=lambda: now), function)


def test_local_refusals_match_the_contract() -> None:
    """403 without a valid key, 429 throttled past the burst, 429 quota_exceeded past the
    quota: each with the contract's status and code, and a Retry-After on the 429s."""
    throttling = _gateway(Plan(rate_limit=0.5, burst_limit=1))
    assert throttling.admit("GET", "/v1/trades", KEY).refusal is None
    for api_key in (None, "not-a-key-of-this-api-000"):
        refusal = throttling.admit("GET", "/v1/trades", api_key).refusal
        assert refusal is not None
        invalid = GATEWAY_ERROR_BY_TYPE["INVALID_API_KEY"]
        assert _error(refusal) == (invalid.status, invalid.code)
    throttled = throttling.admit("GET", "/v1/trades", KEY).refusal
    assert throttled is not None
    expected = GATEWAY_ERROR_BY_TYPE["THROTTLED"]
    assert _error(throttled) == (expected.status, expected.code)
    assert ("Retry-After", "2") in throttled.headers  # a token every 2 s

    quota = Quota(limit=1, period=QuotaPeriod.DAY)
    limited = _gateway(Plan(rate_limit=100, burst_limit=100, quota=quota))
    assert limited.admit("GET", "/v1/trades", KEY).refusal is None
    exceeded = limited.admit("GET", "/v1/trades", KEY).refusal
    assert exceeded is not None
    expected = GATEWAY_ERROR_BY_TYPE["QUOTA_EXCEEDED"]
    assert _error(exceeded) == (expected.status, expected.code)
    assert any(name == "Retry-After" and int(value) >= 1 for name, value in exceeded.headers)


def test_keyless_routes_and_preflight_are_admitted_without_a_key() -> None:
    gateway = _gateway(Plan(rate_limit=1, burst_limit=1))
    for method, path in sorted(KEYLESS_ROUTES):
        assert gateway.admit(method, path, None).refusal is None
    assert gateway.admit("OPTIONS", "/v1/trades", None).refusal is None


def test_the_local_gateway_hard_codes_no_contract_code() -> None:
    """413 and MISSING_AUTHENTICATION_TOKEN are answered by the HTTP handler (exercised over a
    socket in tests/local/test_api_gateway.py); here: every error the module builds goes
    through ``contract_error`` with a known response type, and no code is spelt out."""
    tree = ast.parse(inspect.getsource(local_gateway))
    strings = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not strings & {error.code for error in GATEWAY_ERRORS}
    calls = [
        (node.func.id, node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"contract_error", "gateway_error"}
    ]
    literal_types = {
        call.args[0].value
        for name, call in calls
        if name == "contract_error" and isinstance(call.args[0], ast.Constant)
    }
    assert literal_types == {"INVALID_API_KEY", "MISSING_AUTHENTICATION_TOKEN", "REQUEST_TOO_LARGE"}
    assert set(local_gateway._REFUSALS.values()) == {"THROTTLED", "QUOTA_EXCEEDED"}
    # The one direct gateway_error call left is the one inside contract_error.
    assert [name for name, _ in calls].count("gateway_error") == 1
