"""Job arguments as Glue and EMR Serverless pass them, and the Spark settings they lead to.

Glue passes a job's DefaultArguments and run Arguments as `--NAME value` pairs next to its own
(`--JOB_NAME`, `--JOB_RUN_ID`, ...); these tests feed the entry points' parsing that shape of argv.
No Spark is started.
"""

from __future__ import annotations

import os

import pytest

from k2.domain.markets import DataType, Exchange
from k2.jobs.job_arguments import (
    JobArgumentError,
    job_parser,
    job_settings,
    parse_job_arguments,
    settings_from_job_arguments,
)
from k2.jobs.spark_session import session_config
from k2.settings import K2Settings

pytestmark = pytest.mark.unit

# What Glue itself puts on a job script's command line, besides the job's own parameters.
GLUE_ARGUMENTS = [
    "--JOB_NAME",
    "k2-prod-bronze-binance-trades",
    "--JOB_ID",
    "j_0123456789abcdef",
    "--JOB_RUN_ID",
    "jr_0123456789abcdef",
    "--job-bookmark-option",
    "job-bookmark-disable",
    "--TempDir",
    "s3://aws-glue-assets-123456789012-us-east-1/temporary/",
    "--datalake-formats",
    "iceberg",
]


@pytest.fixture(autouse=True)
def _no_k2_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the K2_ variables it sets itself."""
    for name in list(os.environ):
        if name.startswith("K2_"):
            monkeypatch.delenv(name)


def test_k2_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2_LAKE_BUCKET", "from-the-environment")
    monkeypatch.setenv("K2_REGION", "eu-west-1")
    argv = [
        *GLUE_ARGUMENTS,
        "--K2_LAKE_BUCKET",
        "k2-prod-lake",
        "--K2_GLUE_DATABASE=k2_prod",
        "--K2_KAFKA_BOOTSTRAP_SERVERS",
        "boot-abc.kafka-serverless.eu-west-1.amazonaws.com:9098",
    ]

    settings = settings_from_job_arguments(argv)

    assert settings.lake_bucket == "k2-prod-lake"
    assert settings.glue_database == "k2_prod"
    assert settings.kafka_bootstrap_servers.endswith(":9098")
    assert settings.region == "eu-west-1"  # not given as an argument: the environment still counts
    assert settings.warehouse == "s3://k2-prod-lake/warehouse"


def test_a_run_argument_after_a_default_argument_wins() -> None:
    settings = settings_from_job_arguments(
        ["--K2_ENVIRONMENT", "prod", "--exchange", "binance", "--K2_ENVIRONMENT", "staging"]
    )
    assert settings.environment == "staging"


def test_without_k2_arguments_the_environment_alone_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("K2_CHECKPOINTS_BUCKET", "k2-dev-checkpoints")
    settings = settings_from_job_arguments(GLUE_ARGUMENTS)
    assert settings == K2Settings()
    assert settings.checkpoints_bucket == "k2-dev-checkpoints"


def test_the_job_parser_ignores_glue_and_settings_arguments() -> None:
    argv = [
        *GLUE_ARGUMENTS,
        "--exchange",
        "kraken",
        "--K2_LAKE_BUCKET",
        "k2-prod-lake",
        "--data-type",
        "quotes",
    ]
    args = parse_job_arguments(job_parser("bronze", per_exchange=True), argv)
    assert args.exchange is Exchange.KRAKEN
    assert args.data_type is DataType.QUOTES


def test_an_invalid_value_names_the_argument() -> None:
    with pytest.raises(JobArgumentError, match=r"--K2_KAFKA_AUTH='kerberos': Input should be"):
        settings_from_job_arguments(["--K2_KAFKA_AUTH", "kerberos"])


def test_an_unknown_setting_is_an_error_not_a_silent_typo() -> None:
    with pytest.raises(
        JobArgumentError, match=r"--K2_LAKE_BUCKETS names no K2 setting.*--K2_LAKE_BUCKET"
    ):
        settings_from_job_arguments(["--K2_LAKE_BUCKETS", "k2-prod-lake"])


def test_a_setting_without_its_value_is_an_error() -> None:
    with pytest.raises(JobArgumentError, match="--K2_GLUE_DATABASE needs a value"):
        settings_from_job_arguments(["--exchange", "binance", "--K2_GLUE_DATABASE"])


def test_an_entry_point_stops_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    parser = job_parser("gold", per_exchange=False)
    with pytest.raises(SystemExit) as stopped:
        job_settings(parser, ["--K2_KAFKA_AUTH", "kerberos"])
    assert stopped.value.code == 2
    assert "--K2_KAFKA_AUTH='kerberos'" in capsys.readouterr().err


def test_in_aws_the_session_gets_the_glue_catalog_and_no_local_jars() -> None:
    settings = settings_from_job_arguments(
        [
            "--K2_LAKE_BUCKET",
            "k2-prod-lake",
            "--K2_REGION",
            "eu-west-1",
            # Even if set by mistake, jars are the engine's business in AWS.
            "--K2_SPARK_JARS",
            "/home/dev/.cache/k2/jars/kafka.jar",
        ]
    )

    config = session_config(settings)

    catalog = "spark.sql.catalog.glue_catalog"
    assert config["spark.sql.extensions"] == (
        "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
    )
    assert config[catalog] == "org.apache.iceberg.spark.SparkCatalog"
    assert config[f"{catalog}.catalog-impl"] == "org.apache.iceberg.aws.glue.GlueCatalog"
    assert config[f"{catalog}.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert config[f"{catalog}.warehouse"] == "s3://k2-prod-lake/warehouse"
    assert config[f"{catalog}.client.region"] == "eu-west-1"
    assert not {"spark.master", "spark.jars", "spark.jars.packages"} & config.keys()
    assert not [key for key in config if "endpoint" in key or "access-key" in key]
    assert not [key for key in config if key.startswith("spark.hadoop.")]  # Glue/EMR own s3://


def test_locally_the_session_also_gets_endpoints_and_jars() -> None:
    settings = settings_from_job_arguments(
        [
            "--K2_AWS_ENDPOINT_URL",
            "http://127.0.0.1:4566",
            "--K2_SPARK_JARS",
            "/cache/iceberg.jar,/cache/kafka.jar",
        ]
    )
    config = session_config(settings)
    assert config["spark.master"] == "local[*]"
    assert config["spark.jars"] == "/cache/iceberg.jar,/cache/kafka.jar"
    assert config["spark.sql.catalog.glue_catalog.glue.endpoint"] == "http://127.0.0.1:4566"
