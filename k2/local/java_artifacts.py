"""Java artifacts (the Kafka broker, Spark's connectors) fetched once from Maven Central.

Each bundle is a Maven manifest in ``localstack/maven/<bundle>/pom.xml``; reading and resolving
it lives in ``k2.packaging.maven_bundles`` (the Spark job artifacts ship jars from the same
bundle), and this module gives the local cloud its error type.
"""

from __future__ import annotations

from pathlib import Path

from k2.local.errors import LocalCloudError
from k2.packaging import maven_bundles
from k2.packaging.errors import PackagingError
from k2.packaging.maven_bundles import KAFKA_BROKER, MANIFESTS_DIR, SPARK_CONNECTORS, bundle_dir

__all__ = [
    "KAFKA_BROKER",
    "MANIFESTS_DIR",
    "SPARK_CONNECTORS",
    "bundle_dir",
    "ensure_bundle",
    "jar_paths",
]


def ensure_bundle(bundle: str, cache: Path, manifests: Path = MANIFESTS_DIR) -> Path:
    """The folder holding every jar of ``bundle``, downloading them the first time."""
    try:
        return maven_bundles.ensure_bundle(bundle, cache, manifests)
    except PackagingError as error:
        raise LocalCloudError(str(error)) from error


def jar_paths(bundle: str, cache: Path) -> list[Path]:
    return sorted(ensure_bundle(bundle, cache).glob("*.jar"))
