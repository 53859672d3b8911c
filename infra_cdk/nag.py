"""cdk-nag (AwsSolutionsChecks) acknowledgements, each with the reason it is acceptable.

Every acknowledgement in the app goes through :func:`acknowledge`, so the figure "findings
before acknowledgements" is one context flag away: ``-c nag-before=true`` makes this a
no-op and the synth reports every finding (``docs/deploy.md`` records both counts).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

BEFORE_ACKNOWLEDGEMENTS_CONTEXT_KEY = "nag-before"
NAG_PACK = "AwsSolutions"  # the validation plugin's name: acknowledgement ids are "<pack>::<rule>"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one finding (``AwsSolutions-IAM5[Resource::*]`` names one of a rule's
    findings) on ``scope`` and everything under it; the reason is stored in the assembly."""
    if len(reason) < 20:
        raise ValueError(f"{rule}: a justification must say why, not {reason!r}")
    if _showing_every_finding(scope):
        return
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{NAG_PACK}::{rule}", reason=reason))


def _showing_every_finding(scope: IConstruct) -> bool:
    value = scope.node.try_get_context(BEFORE_ACKNOWLEDGEMENTS_CONTEXT_KEY)
    return str(value).lower() in {"1", "true", "yes"}


def finding_resource(scope: IConstruct, value: str) -> str:
    """How cdk-nag names ``value`` (an ARN that may hold tokens) in an IAM5 finding id:
    ``{"Ref": "AWS::Partition"}`` → ``<AWS::Partition>``, ``GetAtt X.Arn`` → ``<X.Arn>``."""
    return _render(Stack.of(scope).resolve(value))


def _render(resolved: Any) -> str:
    if isinstance(resolved, str):
        return resolved
    if isinstance(resolved, dict) and "Fn::Join" in resolved:
        separator, parts = resolved["Fn::Join"]
        return str(separator).join(_render(part) for part in parts)
    if isinstance(resolved, dict) and "Ref" in resolved:
        return f"<{resolved['Ref']}>"
    if isinstance(resolved, dict) and "Fn::GetAtt" in resolved:
        logical_id, attribute = resolved["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    return json.dumps(resolved, separators=(",", ":"))
