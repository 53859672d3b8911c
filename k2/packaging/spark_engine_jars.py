"""Which of the Spark connector jars the jobs must bring to AWS Glue 5.1 and EMR Serverless.

The local cloud runs every jar of the ``spark`` Maven bundle; in AWS the engine already has some
of them, and a second copy of a jar the engine provides invites class conflicts. Each direct
dependency of the manifest is therefore either shipped (with everything Maven resolved under it)
or left to the engine, for a stated reason (docs/spark-on-aws.md has the sources).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from k2.packaging.errors import PackagingError
from k2.packaging.maven_bundles import MavenArtifact, TreeEntry

# (group, artifact) of a direct dependency → why its jars ship.
SHIPPED: dict[tuple[str, str], str] = {
    ("org.apache.spark", "spark-sql-kafka-0-10_2.12"): (
        "Kafka source for Structured Streaming (bronze): neither Glue 5.1 nor EMR Serverless puts "
        "spark-sql-kafka on a job's classpath"
    ),
    ("software.amazon.msk", "aws-msk-iam-auth"): (
        "SASL mechanism AWS_MSK_IAM, the only authentication MSK Serverless accepts"
    ),
}

# (group, artifact) of a direct dependency → why the engine's own copy is used instead.
PROVIDED: dict[tuple[str, str], str] = {
    ("org.apache.iceberg", "iceberg-spark-runtime-3.5_2.12"): (
        "Glue 5.1: Iceberg 1.10.0 through --datalake-formats iceberg; EMR 7.12: "
        "/usr/share/aws/iceberg/lib/iceberg-spark3-runtime.jar (1.10.0-amzn-0)"
    ),
    ("org.apache.iceberg", "iceberg-aws-bundle"): (
        "GlueCatalog and S3FileIO come with the engine's Iceberg and AWS SDK v2"
    ),
    ("org.apache.hadoop", "hadoop-aws"): (
        "s3:// for streaming checkpoints is the engine's: S3A in Glue 5.1, EMRFS on EMR"
    ),
}


@dataclass(frozen=True)
class ShippedJar:
    artifact: MavenArtifact
    via: MavenArtifact  # the manifest's direct dependency that brought it in
    reason: str


def _key(artifact: MavenArtifact) -> tuple[str, str]:
    return artifact.group, artifact.artifact


def jars_to_ship(tree: Iterable[TreeEntry]) -> list[ShippedJar]:
    """The jars of the shipped direct dependencies, each once, in file-name order.

    A direct dependency the manifest gains later must be classified here first: guessing would
    either ship a duplicate of an engine jar or leave a job without a class.
    """
    shipped: dict[str, ShippedJar] = {}
    for entry in tree:
        root = _key(entry.root)
        if root in PROVIDED:
            continue
        if root not in SHIPPED:
            raise PackagingError(
                f"{entry.root.coordinates} is in the Spark manifest but neither shipped nor "
                "provided by the engine; classify it in k2/packaging/spark_engine_jars.py"
            )
        shipped.setdefault(
            entry.artifact.file_name, ShippedJar(entry.artifact, entry.root, SHIPPED[root])
        )
    return [shipped[name] for name in sorted(shipped)]


def provided_roots(tree: Iterable[TreeEntry]) -> list[tuple[MavenArtifact, str]]:
    """The manifest's direct dependencies the engine provides, with the reason."""
    roots = {entry.root for entry in tree if _key(entry.root) in PROVIDED}
    return [(root, PROVIDED[_key(root)]) for root in sorted(roots)]
