"""The query API's Lambda entry point: API Gateway REST (v1) proxy events into FastAPI.

Built at import (the cold start), reused by every warm invocation. Locally the same file is
loaded by the local API Gateway (``k2.local.api_gateway``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from k2.api.app import app_from_environment
from k2.api.observability import logger, tracer

_asgi = Mangum(app_from_environment(), lifespan="off", api_gateway_base_path="/")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = _asgi(event, context)  # type: ignore[arg-type]
    return response
