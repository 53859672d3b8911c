"""How every Kafka client authenticates: one place that turns ``K2Settings.kafka_auth`` into
client options, for kafka-python (feeds, topic admin, readers) and for Spark's Kafka source.

The local broker is PLAINTEXT and gets no options at all, so its clients are built exactly as they
were before MSK existed. MSK Serverless accepts only SASL/IAM over TLS (bootstrap port 9098):

* kafka-python 3 has the ``AWS_MSK_IAM`` mechanism built in (``kafka.net.sasl.msk``). It signs
  each connection with botocore's default credential chain (the Lambda's or the task's role) and
  takes the region from botocore's ``region`` setting, i.e. ``AWS_DEFAULT_REGION`` (Lambda and
  Fargate set it; ``K2_REGION`` is not consulted). TLS uses the system's CA bundle.
* Spark's Kafka source needs AWS's ``aws-msk-iam-auth`` jar on the classpath for the login module
  and callback handler named below.
"""

from __future__ import annotations

from typing import Any, assert_never

from k2.settings import K2Settings, KafkaAuth

MSK_IAM_LOGIN_MODULE = "software.amazon.msk.auth.iam.IAMLoginModule"
MSK_IAM_CALLBACK_HANDLER = "software.amazon.msk.auth.iam.IAMClientCallbackHandler"


def kafka_python_security(settings: K2Settings) -> dict[str, Any]:
    """Keyword arguments for ``KafkaProducer``, ``KafkaConsumer`` and ``KafkaAdminClient``."""
    auth = KafkaAuth(settings.kafka_auth)  # refuses a value that bypassed validation
    match auth:
        case KafkaAuth.PLAINTEXT:
            return {}
        case KafkaAuth.MSK_IAM:
            return {"security_protocol": "SASL_SSL", "sasl_mechanism": "AWS_MSK_IAM"}
        case _:  # pragma: no cover - every member is matched above
            assert_never(auth)


def spark_kafka_security(settings: K2Settings) -> dict[str, str]:
    """``kafka.*`` options for ``spark.readStream.format("kafka")``."""
    auth = KafkaAuth(settings.kafka_auth)
    match auth:
        case KafkaAuth.PLAINTEXT:
            return {}
        case KafkaAuth.MSK_IAM:
            return {
                "kafka.security.protocol": "SASL_SSL",
                "kafka.sasl.mechanism": "AWS_MSK_IAM",
                "kafka.sasl.jaas.config": f"{MSK_IAM_LOGIN_MODULE} required;",
                "kafka.sasl.client.callback.handler.class": MSK_IAM_CALLBACK_HANDLER,
            }
        case _:  # pragma: no cover - every member is matched above
            assert_never(auth)
