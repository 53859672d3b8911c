"""The pyiceberg Glue catalog, pointed at AWS or at the local cloud by settings alone."""

from __future__ import annotations

import os

from pyiceberg.catalog.glue import GlueCatalog

from k2.settings import K2Settings


def glue_catalog(settings: K2Settings) -> GlueCatalog:
    properties = {
        "client.region": settings.region,
        "warehouse": settings.warehouse,
    }
    if settings.aws_endpoint_url:
        properties |= {
            "glue.endpoint": settings.aws_endpoint_url,
            "s3.endpoint": settings.aws_endpoint_url,
            "s3.path-style-access": "true",
            "s3.region": settings.region,
        }
        # The local endpoint accepts any credentials; pyarrow's S3 client needs them explicitly.
        if "AWS_ACCESS_KEY_ID" in os.environ:
            properties |= {
                "client.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
                "client.secret-access-key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            }
    return GlueCatalog("glue", **properties)
