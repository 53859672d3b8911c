"""Java artifacts (the Kafka broker, Spark's connectors) fetched once from Maven Central.

Each bundle is a Maven manifest in ``localstack/maven/<bundle>/pom.xml``, resolved with
``mvn dependency:copy-dependencies`` into a cache folder named after the manifest's hash, so a
changed manifest fetches afresh and an unchanged one costs nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from k2.local.errors import LocalCloudError

MANIFESTS_DIR = Path(__file__).resolve().parents[2] / "localstack" / "maven"
KAFKA_BROKER = "kafka-broker"
SPARK_CONNECTORS = "spark"


def bundle_dir(bundle: str, cache: Path, manifests: Path = MANIFESTS_DIR) -> Path:
    digest = hashlib.sha256((manifests / bundle / "pom.xml").read_bytes()).hexdigest()[:12]
    return cache / f"{bundle}-{digest}"


def ensure_bundle(bundle: str, cache: Path, manifests: Path = MANIFESTS_DIR) -> Path:
    """The folder holding every jar of ``bundle``, downloading them the first time."""
    target = bundle_dir(bundle, cache, manifests)
    complete = target / ".complete"
    if complete.exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalCloudError(
            "Maven (mvn) is not installed; it fetches the Kafka and Spark jars "
            "(install it with `apt-get install maven`)"
        )
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    result = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(manifests / bundle / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        errors = [line for line in result.stdout.splitlines() if "[ERROR]" in line]
        cause = errors[0] if errors else (result.stderr.strip() or "no output")
        raise LocalCloudError(f"fetching the {bundle} jars from Maven Central failed: {cause}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    complete.touch()
    return target


def jar_paths(bundle: str, cache: Path) -> list[Path]:
    return sorted(ensure_bundle(bundle, cache).glob("*.jar"))
