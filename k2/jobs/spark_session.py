"""One SparkSession factory for Glue, EMR Serverless and the local cloud.

In AWS the platform provides the Iceberg, Kafka and S3 jars and the credentials; the factory only
adds the Iceberg catalog backed by the Glue Data Catalog. Locally (``aws_endpoint_url`` set) it
also runs ``local[*]`` with the jars resolved from Maven Central and points the Iceberg
``GlueCatalog``, ``S3FileIO`` and Hadoop's s3a (streaming checkpoints) at the local endpoint.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from k2.lake.table_definition import CATALOG_NAME
from k2.settings import K2Settings


def catalog_config(settings: K2Settings) -> dict[str, str]:
    """The Iceberg catalog on the Glue Data Catalog: identical in AWS and locally."""
    prefix = f"spark.sql.catalog.{CATALOG_NAME}"
    return {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.warehouse": settings.warehouse,
        f"{prefix}.client.region": settings.region,
        # No cached table metadata: one application runs a layer's writer and the next layer's
        # reader (the local pipeline, tests, replays), and a cached table can hide the
        # snapshot just committed from an availableNow run that starts right after.
        f"{prefix}.cache-enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        # Sources such as Kafka declare every column nullable even where it never is; let the
        # table's required columns accept them (a real null still fails the write).
        "spark.sql.iceberg.check-nullability": "false",
    }


def local_config(settings: K2Settings) -> dict[str, str]:
    """What the local cloud adds to ``catalog_config``: endpoints, jars, a small footprint."""
    endpoint = settings.aws_endpoint_url or ""
    prefix = f"spark.sql.catalog.{CATALOG_NAME}"
    access_key = os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    return {
        "spark.master": "local[*]",
        "spark.jars": settings.spark_jars,
        "spark.driver.memory": "2g",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.streaming.minBatchesToRetain": "20",
        f"{prefix}.glue.endpoint": endpoint,
        f"{prefix}.s3.endpoint": endpoint,
        f"{prefix}.s3.path-style-access": "true",
        f"{prefix}.s3.access-key-id": access_key,
        f"{prefix}.s3.secret-access-key": secret_key,
        # Streaming checkpoints go through Hadoop's FileSystem; s3:// is s3a here, EMRFS in AWS.
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.access.key": access_key,
        "spark.hadoop.fs.s3a.secret.key": secret_key,
        "spark.hadoop.fs.s3a.endpoint.region": settings.region,
    }


def session_config(settings: K2Settings) -> dict[str, str]:
    """Every Spark setting the factory applies, without starting Spark.

    In Glue and on EMR Serverless (no ``aws_endpoint_url``) that is only ``catalog_config``: the
    engine supplies master, jars (Iceberg through ``--datalake-formats iceberg`` or
    ``/usr/share/aws/iceberg/lib``, the Kafka connector through ``--extra-jars`` or ``--jars``),
    credentials and its own S3 filesystem, so nothing here may point at a local jar or endpoint.
    """
    config = catalog_config(settings)
    if settings.aws_endpoint_url:
        config |= local_config(settings)
    return config


def build_spark_session(app_name: str, settings: K2Settings) -> SparkSession:
    """The job's SparkSession; returns the running one if this process already has it.

    Static settings (``spark.sql.extensions``, the catalog) take effect because the entry point
    builds the first session of its process, before any SparkContext exists.
    """
    config = session_config(settings)
    if settings.aws_endpoint_url:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the local cloud stays on loopback
        # Python workers (silver's decode step) must run this interpreter, where K2 and its
        # dependencies are installed; PySpark reads only the environment for it.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    for key, value in config.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
