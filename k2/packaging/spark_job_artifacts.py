"""Build what the Spark jobs need in AWS Glue 5.1 and on EMR Serverless into one folder.

    python -m k2.packaging.spark_job_artifacts OUTDIR [--jar-cache DIR]

OUTDIR/
  python/k2-<version>-py3-none-any.whl   the k2 library (``pip wheel --no-deps``)
  scripts/{bronze,silver,gold,ohlcv,maintenance}.py   the job entry points (glue_jobs/)
  jars/*.jar                             connector jars the engines do not provide
  manifest.json                          every file with its sha256; jars with Maven coordinates

The CDK app runs this at synth time and uploads OUTDIR, so it must be quick and repeatable: a
file whose inputs did not change is left as it is (the wheel is rebuilt only when ``k2/`` or
``pyproject.toml`` changed), and ``manifest.json`` depends only on the contents, so an unchanged
tree gives an unchanged asset hash. Jars come from the local Maven bundle cache shared with the
local cloud (offline once fetched). Progress goes to stderr; stdout stays free for the caller.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k2.packaging import maven_bundles
from k2.packaging.errors import PackagingError
from k2.packaging.spark_engine_jars import jars_to_ship, provided_roots

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
ENTRY_POINTS = ("bronze", "silver", "gold", "ohlcv", "maintenance")
# Wheel entries carry this time (1980-01-01, the zip epoch) instead of the build's.
_SOURCE_DATE_EPOCH = "315532800"
_CHUNK = 1024 * 1024

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ArtifactFile:
    """One file of the output, as the manifest lists it."""

    path: str  # relative to OUTDIR, POSIX
    kind: str  # wheel | script | jar
    sha256: str
    size: int
    maven: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "sha256": self.sha256,
            "bytes": self.size,
        }
        if self.maven:
            entry["maven"] = self.maven
        if self.reason:
            entry["reason"] = self.reason
        return entry


@dataclass
class BuildReport:
    """What a run wrote and what it found current already."""

    out: Path
    files: list[ArtifactFile] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def project_version(repo_root: Path) -> str:
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    return str(pyproject["project"]["version"])


def wheel_name(version: str) -> str:
    """The wheel's file name: fixed by the version, so the CDK can name it before it exists."""
    return f"k2-{version}-py3-none-any.whl"


def wheel_sources(repo_root: Path) -> list[Path]:
    """The files the wheel is built from (relative to the repository), bytecode excluded."""
    package = [
        path.relative_to(repo_root)
        for path in (repo_root / "k2").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    return sorted([Path("pyproject.toml"), *package])


def sources_digest(repo_root: Path, files: Iterable[Path]) -> str:
    """One hash over the paths and contents of ``files``: the wheel is current while it holds."""
    digest = hashlib.sha256()
    for relative in files:
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256((repo_root / relative).read_bytes()).digest())
    return digest.hexdigest()


def build_wheel(repo_root: Path, files: Iterable[Path], destination: Path) -> None:
    """``pip wheel --no-deps`` of a copy of the sources, so the checkout gets no build/ folder."""
    with tempfile.TemporaryDirectory(prefix="k2-wheel-") as scratch:
        source = Path(scratch) / "source"
        for relative in files:
            target = source / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo_root / relative, target)
        built = Path(scratch) / "dist"
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--wheel-dir",
            str(built),
            str(source),
        ]
        environment = os.environ | {"SOURCE_DATE_EPOCH": _SOURCE_DATE_EPOCH}
        result = subprocess.run(command, capture_output=True, text=True, env=environment)
        if result.returncode != 0:
            # Offline and without setuptools in pip's cache: build with this environment's.
            result = subprocess.run(
                [*command[:4], "--no-build-isolation", *command[4:]],
                capture_output=True,
                text=True,
                env=environment,
            )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise PackagingError(f"pip wheel failed (exit {result.returncode}):\n{tail}")
        wheels = list(built.glob("*.whl"))
        if [wheel.name for wheel in wheels] != [destination.name]:
            raise PackagingError(
                f"pip built {[wheel.name for wheel in wheels]}, expected {destination.name}"
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(wheels[0], destination)


def read_manifest(out: Path) -> dict[str, Any]:
    path = out / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def _copy_if_changed(source: Path, target: Path, report: BuildReport, progress: Progress) -> str:
    """Copy unless ``target`` already holds the same bytes; returns the file's sha256."""
    digest = sha256_file(source)
    relative = target.relative_to(report.out).as_posix()
    same_size = target.is_file() and target.stat().st_size == source.stat().st_size
    if same_size and sha256_file(target) == digest:
        report.reused.append(relative)
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    report.written.append(relative)
    progress(f"  wrote {relative}")
    return digest


def _remove_strays(out: Path, keep: set[str], report: BuildReport, progress: Progress) -> None:
    """Files an earlier run wrote that this one no longer ships (a jar dropped, a script gone)."""
    for folder in ("python", "scripts", "jars"):
        for path in sorted((out / folder).glob("*")) if (out / folder).is_dir() else []:
            relative = path.relative_to(out).as_posix()
            if path.is_file() and relative not in keep:
                path.unlink()
                report.removed.append(relative)
                progress(f"  removed {relative} (no longer shipped)")


def build_spark_job_artifacts(
    out: Path,
    *,
    jar_cache: Path,
    repo_root: Path = REPO_ROOT,
    manifests: Path = maven_bundles.MANIFESTS_DIR,
    progress: Progress | None = None,
) -> BuildReport:
    """Bring ``out`` up to date with the sources; see the module docstring for the layout."""
    say = progress or (lambda _message: None)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    report = BuildReport(out)
    previous = read_manifest(out)

    version = project_version(repo_root)
    wheel_path = out / "python" / wheel_name(version)
    sources = wheel_sources(repo_root)
    digest = sources_digest(repo_root, sources)
    wheel_relative = wheel_path.relative_to(out).as_posix()
    previous_wheel = next(
        (f for f in previous.get("files", []) if f.get("path") == wheel_relative), None
    )
    if (
        previous.get("wheel_sources_sha256") == digest
        and previous_wheel is not None
        and wheel_path.is_file()
        and sha256_file(wheel_path) == previous_wheel.get("sha256")
    ):
        report.reused.append(wheel_relative)
        say(f"wheel: {wheel_relative} is current")
    else:
        say(f"wheel: building {wheel_relative} from {len(sources)} files")
        started = time.monotonic()
        build_wheel(repo_root, sources, wheel_path)
        report.written.append(wheel_relative)
        say(f"  wrote {wheel_relative} in {time.monotonic() - started:.1f} s")
    report.files.append(
        ArtifactFile(wheel_relative, "wheel", sha256_file(wheel_path), wheel_path.stat().st_size)
    )

    say(f"scripts: {', '.join(ENTRY_POINTS)}")
    for name in ENTRY_POINTS:
        source = repo_root / "glue_jobs" / f"{name}.py"
        target = out / "scripts" / source.name
        script_sha = _copy_if_changed(source, target, report, say)
        report.files.append(
            ArtifactFile(
                target.relative_to(out).as_posix(), "script", script_sha, target.stat().st_size
            )
        )

    bundle = maven_bundles.SPARK_CONNECTORS
    say(f"jars: resolving the {bundle!r} Maven bundle in {jar_cache}")
    tree = maven_bundles.dependency_tree(bundle, jar_cache, manifests)
    folder = maven_bundles.bundle_dir(bundle, jar_cache, manifests)
    for root, reason in provided_roots(tree):
        say(f"  provided by the engine: {root.coordinates} ({reason})")
    for jar in jars_to_ship(tree):
        source = folder / jar.artifact.file_name
        if not source.is_file():
            raise PackagingError(f"{source} is missing from the resolved bundle; delete {folder}")
        target = out / "jars" / source.name
        jar_sha = _copy_if_changed(source, target, report, say)
        report.files.append(
            ArtifactFile(
                target.relative_to(out).as_posix(),
                "jar",
                jar_sha,
                target.stat().st_size,
                maven=jar.artifact.coordinates,
                reason=f"{jar.reason} (via {jar.via.coordinates})",
            )
        )

    _remove_strays(out, {f.path for f in report.files}, report, say)

    pom = maven_bundles.manifest_path(bundle, manifests)
    manifest = {
        "format": MANIFEST_FORMAT,
        "k2_version": version,
        "wheel_sources_sha256": digest,
        "maven_manifest": {
            "path": _display_path(pom, repo_root),
            "sha256": sha256_file(pom),
        },
        "provided_by_engine": [
            {"maven": root.coordinates, "reason": reason} for root, reason in provided_roots(tree)
        ],
        "files": [f.as_json() for f in sorted(report.files, key=lambda f: f.path)],
    }
    text = manifest_text(manifest)
    manifest_path = out / MANIFEST_NAME
    if manifest_path.is_file() and manifest_path.read_text() == text:
        report.reused.append(MANIFEST_NAME)
    else:
        manifest_path.write_text(text)
        report.written.append(MANIFEST_NAME)
        say(f"  wrote {MANIFEST_NAME}")
    return report


def _display_path(path: Path, repo_root: Path) -> str:
    try:
        return path.relative_to(repo_root).as_posix()
    except ValueError:
        return str(path)


def default_jar_cache() -> Path:
    """The local cloud's jar cache (``K2_LOCAL_CACHE_DIR``/jars), so the jars are fetched once."""
    cache = os.environ.get("K2_LOCAL_CACHE_DIR")
    return (Path(cache) if cache else Path.home() / ".cache" / "k2").expanduser() / "jars"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m k2.packaging.spark_job_artifacts",
        description="Build the k2 wheel, the job scripts and the connector jars for Glue/EMR.",
    )
    parser.add_argument("out", type=Path, help="the folder to bring up to date")
    parser.add_argument(
        "--jar-cache",
        type=Path,
        default=None,
        help="where Maven bundles are resolved (default: the local cloud's, ~/.cache/k2/jars)",
    )
    args = parser.parse_args(argv)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        report = build_spark_job_artifacts(
            args.out, jar_cache=args.jar_cache or default_jar_cache(), progress=progress
        )
    except PackagingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    state = (
        f"{len(report.written)} written, {len(report.removed)} removed"
        if report.changed
        else "nothing to do, everything current"
    )
    progress(
        f"spark job artifacts in {report.out}: {len(report.files)} files, {state} "
        f"({time.monotonic() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
