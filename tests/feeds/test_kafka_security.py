"""The one place Kafka client options come from: nothing for the local broker, SASL/IAM over TLS
for MSK, and no third way."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.net.sasl import get_sasl_mechanism
from pydantic import ValidationError

from k2.feeds.kafka_security import kafka_python_security, spark_kafka_security
from k2.settings import K2Settings, KafkaAuth

pytestmark = pytest.mark.unit


def test_plaintext_is_the_default_and_adds_no_option_at_all() -> None:
    """The local broker's clients are built exactly as before MSK support existed."""
    settings = K2Settings()
    assert settings.kafka_auth is KafkaAuth.PLAINTEXT
    assert kafka_python_security(settings) == {}
    assert spark_kafka_security(settings) == {}


def test_msk_iam_is_sasl_iam_over_tls_for_kafka_python() -> None:
    options = kafka_python_security(K2Settings(kafka_auth="msk-iam"))
    assert options == {"security_protocol": "SASL_SSL", "sasl_mechanism": "AWS_MSK_IAM"}


def test_the_kafka_python_options_are_ones_each_client_takes_and_the_mechanism_exists() -> None:
    """Checked against the installed kafka-python, not against our memory of it."""
    options = kafka_python_security(K2Settings(kafka_auth="msk-iam"))
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert set(options) <= set(client.DEFAULT_CONFIG), client.__name__
    assert get_sasl_mechanism(options["sasl_mechanism"]).__name__ == "SaslMechanismAwsMskIam"


def test_msk_iam_for_spark_names_aws_msk_iam_auth_classes() -> None:
    assert spark_kafka_security(K2Settings(kafka_auth="msk-iam")) == {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "AWS_MSK_IAM",
        "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
        "kafka.sasl.client.callback.handler.class": (
            "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
        ),
    }


def test_the_environment_chooses_the_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2_KAFKA_AUTH", "msk-iam")
    assert K2Settings().kafka_auth is KafkaAuth.MSK_IAM


@pytest.mark.parametrize("value", ["sasl-scram", "MSK_IAM", "ssl", ""])
def test_an_unknown_auth_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="kafka_auth"):
        K2Settings(kafka_auth=value)
    monkeypatch.setenv("K2_KAFKA_AUTH", value)
    with pytest.raises(ValidationError, match="kafka_auth"):
        K2Settings()


def test_an_unknown_auth_that_skipped_validation_is_refused_by_the_builders() -> None:
    settings = K2Settings.model_construct(kafka_auth="sasl-scram")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sasl-scram"):
        kafka_python_security(settings)
    with pytest.raises(ValueError, match="sasl-scram"):
        spark_kafka_security(settings)


class _Recorder:
    """Stands in for a Kafka client class or Spark's stream reader; remembers its options."""

    def __init__(self, *args: Any, **options: Any) -> None:
        self.seen = dict(options)

    def __call__(self, *args: Any, **kwargs: Any) -> _Recorder:
        return self

    def options(self, **options: Any) -> _Recorder:
        self.seen |= options
        return self

    def __getattr__(self, name: str) -> Any:
        if name in ("list_topics", "load"):
            return lambda *args, **kwargs: []
        return self

    def option(self, key: str, value: str) -> _Recorder:
        self.seen[key] = value
        return self


def test_every_kafka_client_of_k2_takes_its_security_from_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The producer, the topic reader, the topic admin and Spark's Kafka source."""
    from k2.feeds import kafka_producer, topic_admin, topic_reader
    from k2.jobs import bronze

    settings = K2Settings(kafka_auth="msk-iam")
    clients: list[_Recorder] = []

    def record(*args: Any, **options: Any) -> _Recorder:
        clients.append(_Recorder(*args, **options))
        return clients[-1]

    monkeypatch.setattr(kafka_producer, "KafkaProducer", record)
    monkeypatch.setattr(topic_reader, "KafkaConsumer", record)
    monkeypatch.setattr(topic_admin, "KafkaAdminClient", record)
    kafka_producer.build_producer(settings)
    topic_reader.end_offsets(settings, [])
    topic_admin.ensure_topics(settings, [])
    spark = _Recorder()
    bronze.kafka_source(spark, settings, "market.crypto.trades.binance.raw")  # type: ignore[arg-type]

    expected = kafka_python_security(settings)
    assert [client.seen.items() >= expected.items() for client in clients] == [True] * 3
    assert spark.seen.items() >= spark_kafka_security(settings).items()
    assert spark.seen["kafka.bootstrap.servers"] == settings.kafka_bootstrap_servers
