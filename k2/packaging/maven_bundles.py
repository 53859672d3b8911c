"""Java artifact bundles: Maven manifests in ``localstack/maven/<bundle>/pom.xml``, resolved once.

One manifest per bundle (the Kafka broker, Spark's connectors) is resolved with
``mvn dependency:copy-dependencies`` into a cache folder named after the manifest's hash, so a
changed manifest fetches afresh and an unchanged one costs nothing. The local cloud runs the jars
from that folder; the Spark job artifacts ship the ones AWS does not provide, which is why this
lives here (``k2.local`` may import ``k2.packaging``, not the reverse).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from k2.packaging.errors import PackagingError

MANIFESTS_DIR = Path(__file__).resolve().parents[2] / "localstack" / "maven"
KAFKA_BROKER = "kafka-broker"
SPARK_CONNECTORS = "spark"
_COMPLETE = ".complete"
_TREE = ".dependency-tree.txt"
_TREE_INDENT = 3  # "+- " and "|  " in `mvn dependency:tree` text output


@dataclass(frozen=True, order=True)
class MavenArtifact:
    """One resolved artifact, as `mvn dependency:tree` names it."""

    group: str
    artifact: str
    version: str
    packaging: str = "jar"
    classifier: str = ""

    @property
    def coordinates(self) -> str:
        """``group:artifact:version`` (with ``:classifier`` when there is one)."""
        tail = f":{self.classifier}" if self.classifier else ""
        return f"{self.group}:{self.artifact}:{self.version}{tail}"

    @property
    def file_name(self) -> str:
        """The name `copy-dependencies` gives its file."""
        tail = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{tail}.{self.packaging}"


@dataclass(frozen=True)
class TreeEntry:
    """An artifact of the tree and the direct dependency of the manifest that brought it in."""

    artifact: MavenArtifact
    root: MavenArtifact


def manifest_path(bundle: str, manifests: Path = MANIFESTS_DIR) -> Path:
    return manifests / bundle / "pom.xml"


def bundle_dir(bundle: str, cache: Path, manifests: Path = MANIFESTS_DIR) -> Path:
    """The cache folder for the manifest as it is now."""
    digest = hashlib.sha256(manifest_path(bundle, manifests).read_bytes()).hexdigest()[:12]
    return cache / f"{bundle}-{digest}"


def is_complete(folder: Path) -> bool:
    return (folder / _COMPLETE).exists()


def parse_artifact(text: str) -> MavenArtifact:
    """``group:artifact:packaging[:classifier]:version[:scope]`` (Maven's own order)."""
    parts = text.strip().split(":")
    if len(parts) in (4, 5) and parts[-1] not in {"compile", "runtime", "provided", "test"}:
        parts = [*parts, ""]  # no scope: the manifest's own line
    if len(parts) == 5:
        group, artifact, packaging, version, _scope = parts
        return MavenArtifact(group, artifact, version, packaging)
    if len(parts) == 6:
        group, artifact, packaging, classifier, version, _scope = parts
        return MavenArtifact(group, artifact, version, packaging, classifier)
    raise PackagingError(f"not a Maven artifact: {text!r}")


def parse_dependency_tree(text: str) -> list[TreeEntry]:
    """`mvn dependency:tree -DoutputType=text` output → every artifact with its direct root.

    The first line is the manifest itself; each level below it is indented by three characters.
    """
    entries: list[TreeEntry] = []
    root: MavenArtifact | None = None
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        marker = max(line.find("+- "), line.find("\\- "))
        if marker < 0:
            raise PackagingError(f"not a dependency tree line: {line!r}")
        artifact = parse_artifact(line[marker + _TREE_INDENT :])
        if marker == 0:
            root = artifact
        if root is None:
            raise PackagingError(f"dependency tree line before any direct dependency: {line!r}")
        entries.append(TreeEntry(artifact, root))
    return entries


def ensure_bundle(bundle: str, cache: Path, manifests: Path = MANIFESTS_DIR) -> Path:
    """The folder holding every jar of ``bundle``, downloading them the first time."""
    target = bundle_dir(bundle, cache, manifests)
    if is_complete(target):
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _run_maven(
        bundle,
        manifests,
        [
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
    )
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    (target / _COMPLETE).touch()
    return target


def dependency_tree(bundle: str, cache: Path, manifests: Path = MANIFESTS_DIR) -> list[TreeEntry]:
    """Which direct dependency brought in each jar of the bundle (asked of Maven once, offline).

    The folder of copied jars names no coordinates; the tree does. It is kept next to the jars,
    so later calls read a file instead of starting Maven.
    """
    folder = ensure_bundle(bundle, cache, manifests)
    tree = folder / _TREE
    if not tree.exists():
        partial = tree.with_name(tree.name + ".partial")
        _run_maven(
            bundle,
            manifests,
            ["-o", "dependency:tree", "-DoutputType=text", f"-DoutputFile={partial}"],
        )
        partial.rename(tree)
    return parse_dependency_tree(tree.read_text())


def _run_maven(bundle: str, manifests: Path, goal: list[str]) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PackagingError(
            "Maven (mvn) is not installed; it fetches the Kafka and Spark jars "
            "(install it with `apt-get install maven`)"
        )
    result = subprocess.run(
        [mvn, "-B", "-q", "-f", str(manifest_path(bundle, manifests)), *goal],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        errors = [line for line in result.stdout.splitlines() if "[ERROR]" in line]
        cause = errors[0] if errors else (result.stderr.strip() or "no output")
        raise PackagingError(f"fetching the {bundle} jars from Maven Central failed: {cause}")
