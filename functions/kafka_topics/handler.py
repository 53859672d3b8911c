"""CloudFormation custom resource (CDK ``custom_resources.Provider``): the platform's Kafka topics.

Create and Update make every topic of ``k2.domain.markets.platform_topics()`` exist with its
partitions, retention and the other configs the cluster accepts (``k2.feeds.topic_admin``, the
code ``k2 local up`` runs). Delete changes nothing: the topics hold market data, and no stack
operation deletes market data; remove them by hand if they must go.

Environment: ``K2_KAFKA_BOOTSTRAP_SERVERS`` (the cluster's SASL/IAM bootstrap string) and
``K2_KAFKA_AUTH=msk-iam``. Returns the topic names, comma-separated, as the ``Topics`` attribute.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from k2.domain.markets import platform_topics
from k2.feeds.topic_admin import ensure_topics
from k2.settings import K2Settings

logger = Logger(service="k2-kafka-topics")


@logger.inject_lambda_context(clear_state=True)
def on_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = K2Settings()
    request = event["RequestType"]
    physical_id = event.get("PhysicalResourceId") or f"k2-{settings.environment}-kafka-topics"
    topics = [topic.name for topic in platform_topics()]
    if request in ("Create", "Update"):
        topics = ensure_topics(settings, platform_topics())
    logger.info(request, extra={"bootstrap": settings.kafka_bootstrap_servers, "topics": topics})
    return {"PhysicalResourceId": physical_id, "Data": {"Topics": ",".join(topics)}}
