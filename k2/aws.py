"""boto3 clients for AWS or the local endpoint, chosen by settings alone."""

from __future__ import annotations

from typing import Any

import boto3

from k2.settings import K2Settings


def aws_client(service: str, settings: K2Settings, **credentials: str) -> Any:
    """A client for ``service``; credentials come from the default chain unless given."""
    return boto3.client(
        service, endpoint_url=settings.aws_endpoint_url, region_name=settings.region, **credentials
    )
