"""The Spark job artifacts: wheel, entry scripts, connector jars and a manifest that matches them.

The wheel is really built from this checkout (pip, a few seconds, once per module); the Maven
bundle is a stand-in folder laid out as `maven_bundles.ensure_bundle` leaves a resolved one, with
the dependency tree Maven printed for localstack/maven/spark/pom.xml, so no Maven runs here.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from k2.packaging import maven_bundles
from k2.packaging.errors import PackagingError
from k2.packaging.maven_bundles import MavenArtifact, parse_dependency_tree
from k2.packaging.spark_engine_jars import jars_to_ship
from k2.packaging.spark_job_artifacts import (
    ENTRY_POINTS,
    MANIFEST_NAME,
    REPO_ROOT,
    BuildReport,
    build_spark_job_artifacts,
    project_version,
    sha256_file,
    wheel_name,
)

# `mvn dependency:tree -DoutputType=text` for localstack/maven/spark/pom.xml (Maven 3.8).
SPARK_TREE = """\
io.k2.local:spark-connectors:pom:1
+- org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:jar:1.10.0:compile
+- org.apache.iceberg:iceberg-aws-bundle:jar:1.10.0:compile
+- org.apache.spark:spark-sql-kafka-0-10_2.12:jar:3.5.7:compile
|  +- org.apache.spark:spark-token-provider-kafka-0-10_2.12:jar:3.5.7:compile
|  +- org.apache.kafka:kafka-clients:jar:3.4.1:compile
|  \\- org.apache.commons:commons-pool2:jar:2.11.1:compile
\\- org.apache.hadoop:hadoop-aws:jar:3.3.4:compile
   +- com.amazonaws:aws-java-sdk-bundle:jar:1.12.262:compile
   \\- org.wildfly.openssl:wildfly-openssl:jar:1.0.7.Final:runtime
"""
KAFKA_JARS = {
    "commons-pool2-2.11.1.jar": "org.apache.commons:commons-pool2:2.11.1",
    "kafka-clients-3.4.1.jar": "org.apache.kafka:kafka-clients:3.4.1",
    "spark-sql-kafka-0-10_2.12-3.5.7.jar": "org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.7",
    "spark-token-provider-kafka-0-10_2.12-3.5.7.jar": (
        "org.apache.spark:spark-token-provider-kafka-0-10_2.12:3.5.7"
    ),
}


@dataclass(frozen=True)
class Built:
    out: Path
    jar_cache: Path
    manifests: Path
    checkout: Path
    first: BuildReport

    def rebuild(self, out: Path | None = None, jar_cache: Path | None = None) -> BuildReport:
        return build_spark_job_artifacts(
            out or self.out,
            jar_cache=jar_cache or self.jar_cache,
            manifests=self.manifests,
            repo_root=self.checkout,
        )


def resolved_bundle(root: Path) -> tuple[Path, Path]:
    """A manifests folder and a jar cache holding its bundle as if Maven had resolved it."""
    manifests = root / "maven"
    (manifests / "spark").mkdir(parents=True)
    (manifests / "spark" / "pom.xml").write_text("<project><!-- stand-in --></project>\n")
    cache = root / "jars"
    folder = maven_bundles.bundle_dir("spark", cache, manifests)
    folder.mkdir(parents=True)
    for entry in parse_dependency_tree(SPARK_TREE):
        jar = folder / entry.artifact.file_name
        jar.write_bytes(f"stand-in for {entry.artifact.coordinates}\n".encode())
    (folder / ".dependency-tree.txt").write_text(SPARK_TREE)
    (folder / ".complete").touch()
    return manifests, cache


def checkout_snapshot(root: Path) -> Path:
    """This checkout's pyproject, k2 and glue_jobs, frozen: edits made while the tests run
    (other work in the same tree) must not look like a changed input between two builds."""
    snapshot = root / "checkout"
    snapshot.mkdir()
    shutil.copy2(REPO_ROOT / "pyproject.toml", snapshot / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("k2", "glue_jobs"):
        shutil.copytree(REPO_ROOT / folder, snapshot / folder, ignore=ignore)
    return snapshot


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("spark-artifacts")
    manifests, cache = resolved_bundle(root)
    checkout = checkout_snapshot(root)
    out = root / "out"
    first = build_spark_job_artifacts(out, jar_cache=cache, manifests=manifests, repo_root=checkout)
    return Built(out, cache, manifests, checkout, first)


def manifest_of(out: Path) -> dict[str, object]:
    loaded = json.loads((out / MANIFEST_NAME).read_text())
    assert isinstance(loaded, dict)
    return loaded


def files_of(out: Path) -> list[dict[str, Any]]:
    files = manifest_of(out)["files"]
    assert isinstance(files, list)
    return files


def test_the_wheel_holds_the_k2_package(built: Built) -> None:
    wheel = built.out / "python" / wheel_name(project_version(built.checkout))
    assert wheel.name == "k2-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read("k2-0.1.0.dist-info/METADATA").decode()
    assert {"k2/__init__.py", "k2/settings.py", "k2/jobs/job_arguments.py"} <= names
    assert "k2/jobs/spark_session.py" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert "Name: k2\n" in metadata


def test_every_entry_point_script_is_there_unchanged(built: Built) -> None:
    for name in ENTRY_POINTS:
        script = built.out / "scripts" / f"{name}.py"
        assert script.read_bytes() == (built.checkout / "glue_jobs" / f"{name}.py").read_bytes()


def test_only_the_kafka_connector_jars_ship(built: Built) -> None:
    jars = {f["path"].removeprefix("jars/"): f for f in files_of(built.out) if f["kind"] == "jar"}
    assert {name: entry["maven"] for name, entry in jars.items()} == KAFKA_JARS
    assert sorted(p.name for p in (built.out / "jars").iterdir()) == sorted(KAFKA_JARS)
    provided = manifest_of(built.out)["provided_by_engine"]
    assert isinstance(provided, list)
    assert {p["maven"] for p in provided} == {
        "org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0",
        "org.apache.iceberg:iceberg-aws-bundle:1.10.0",
        "org.apache.hadoop:hadoop-aws:3.3.4",
    }


def test_the_manifest_lists_every_file_with_its_hash(built: Built) -> None:
    listed = {f["path"]: f for f in files_of(built.out)}
    on_disk = {
        path.relative_to(built.out).as_posix()
        for path in built.out.rglob("*")
        if path.is_file() and path.name != MANIFEST_NAME
    }
    assert set(listed) == on_disk
    for relative, entry in listed.items():
        path = built.out / relative
        assert entry["sha256"] == sha256_file(path), relative
        assert entry["bytes"] == path.stat().st_size, relative


def test_a_second_run_changes_nothing(built: Built) -> None:
    before = {
        p: (p.stat().st_mtime_ns, p.read_bytes()) for p in built.out.rglob("*") if p.is_file()
    }

    again = built.rebuild()

    assert not again.changed, again.written
    assert again.files == built.first.files
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in built.out.rglob("*") if p.is_file()}
    assert after == before


def test_a_changed_jar_is_copied_again_and_a_dropped_file_removed(
    tmp_path: Path, built: Built
) -> None:
    cache = tmp_path / "jars"
    shutil.copytree(built.jar_cache, cache)
    out = tmp_path / "out"
    shutil.copytree(built.out, out)  # the same inputs: the wheel is reused, not rebuilt
    folder = maven_bundles.bundle_dir("spark", cache, built.manifests)
    (folder / "kafka-clients-3.4.1.jar").write_bytes(b"a rebuilt jar\n")
    (out / "jars" / "old-connector-1.0.jar").write_bytes(b"shipped by an earlier manifest\n")

    report = built.rebuild(out, cache)

    assert sorted(report.written) == ["jars/kafka-clients-3.4.1.jar", MANIFEST_NAME]
    assert report.removed == ["jars/old-connector-1.0.jar"]
    kafka = next(f for f in files_of(out) if f["path"] == "jars/kafka-clients-3.4.1.jar")
    assert kafka["sha256"] == sha256_file(out / "jars" / "kafka-clients-3.4.1.jar")


def test_the_dependency_tree_names_each_jar_and_its_direct_dependency() -> None:
    entries = parse_dependency_tree(SPARK_TREE)
    kafka_clients = next(e for e in entries if e.artifact.artifact == "kafka-clients")
    assert kafka_clients.artifact == MavenArtifact("org.apache.kafka", "kafka-clients", "3.4.1")
    assert kafka_clients.root.artifact == "spark-sql-kafka-0-10_2.12"
    openssl = next(e for e in entries if e.artifact.artifact == "wildfly-openssl")
    assert (openssl.artifact.version, openssl.root.artifact) == ("1.0.7.Final", "hadoop-aws")


def test_an_unclassified_direct_dependency_stops_the_build() -> None:
    tree = parse_dependency_tree(
        "io.k2.local:spark-connectors:pom:1\n"
        "\\- org.apache.spark:spark-avro_2.12:jar:3.5.7:compile\n"
    )
    with pytest.raises(PackagingError, match=r"spark-avro_2\.12:3\.5\.7 is in the Spark manifest"):
        jars_to_ship(tree)
