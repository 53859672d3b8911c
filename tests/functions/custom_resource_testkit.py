"""Run the CloudFormation custom-resource handlers of ``functions/`` as Lambda would.

Events are CloudFormation's request objects as the CDK Provider framework hands them on
(``events/*.json``); handlers are imported from their files, which are not in a package.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = Path(__file__).parent / "events"


class LambdaContextStub:
    """What the Lambda runtime passes (only what powertools' ``inject_lambda_context`` reads)."""

    function_name = "k2-custom-resource"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:k2-custom-resource"
    memory_limit_in_mb = 512
    aws_request_id = "5f1c3a9e-test-request"
    log_group_name = "/aws/lambda/k2-custom-resource"
    log_stream_name = "2026/11/26/[$LATEST]test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 840_000


@cache
def load_handler(folder: str) -> ModuleType:
    """``functions/<folder>/handler.py``, imported once under a name of its own."""
    path = REPO_ROOT / "functions" / folder / "handler.py"
    spec = importlib.util.spec_from_file_location(f"k2_{folder}_handler_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cfn_event(request_type: str, physical_id: str | None = None) -> dict[str, Any]:
    """The canonical Create/Update/Delete request; Update and Delete name ``physical_id``."""
    event: dict[str, Any] = copy.deepcopy(
        json.loads((EVENTS / f"{request_type.lower()}.json").read_text())
    )
    assert event["RequestType"] == request_type
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


def invoke(folder: str, request_type: str, physical_id: str | None = None) -> dict[str, Any]:
    """One custom-resource event through the handler; its response (exceptions propagate, as
    they do to the Provider framework, which fails the deployment with their message)."""
    handler = load_handler(folder)
    response: dict[str, Any] = handler.on_event(
        cfn_event(request_type, physical_id), LambdaContextStub()
    )
    return response
