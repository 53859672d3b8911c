"""Build the query API's Lambda artifact and measure it against Lambda's limits.

    python -m k2.packaging.lambda_artifact [--out DIR] [--platform x86_64|arm64] [--glibc 2.34]

pip resolves pyproject's runtime `dependencies` under requirements.lock for the target (not this
machine) into `DIR/package/`; `k2` and the handlers of `functions/` join them (at the root, one
module each: see `k2.packaging.lambda_entry_points`); files Python never imports are stripped;
`DIR/k2-api-lambda.zip` is written deterministically. The same directory is what the container
image (functions/api/Dockerfile) adds on top of its base image; its CMD picks the function.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rich.console import Console
from rich.table import Table

from k2.packaging.artifact_contents import StripPlan, plan_strip
from k2.packaging.artifact_sizes import (
    PackageSize,
    mib,
    owners_from_records,
    sizes_by_package,
)
from k2.packaging.deterministic_zip import write_zip
from k2.packaging.errors import PackagingError
from k2.packaging.lambda_entry_points import API, ENTRY_POINTS, EntryPoint
from k2.packaging.lambda_limits import Choice, Verdict, choose_packaging, verdicts
from k2.packaging.lambda_target import (
    Glibc,
    LambdaTarget,
    glibc_text,
    managed_runtime_glibc,
    parse_glibc,
    pip_target_options,
    required_glibc,
    wheel_glibc,
    wheel_tags,
)
from k2.packaging.runtime_pins import (
    Pin,
    lock_violations,
    missing_requirements,
    parse_lock,
    resolved_pins,
    runtime_requirements,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "dist/lambda/api"
HANDLER = Path(API.source)
ZIP_NAME = "k2-api-lambda.zip"
_PIP_TAIL_LINES = 25


@dataclass(frozen=True)
class Artifact:
    """The built artifact and its measurements."""

    package_dir: Path
    zip_path: Path
    target: LambdaTarget
    pins: tuple[Pin, ...]
    handler_included: bool
    """The query API's handler; the custom resources' are in ``entry_points``."""
    entry_points: tuple[str, ...]
    """The commands (``module.function``) whose handler files are in the artifact."""
    files: int
    unzipped: int
    zipped: int
    stripped_bytes: Counter[str]
    packages: tuple[PackageSize, ...]
    glibc: Glibc | None
    glibc_wheels: tuple[str, ...]
    verdicts: tuple[Verdict, ...]
    choice: Choice

    def summary(self) -> dict[str, Any]:
        """The figures as JSON, next to the zip, for docs and for CI to compare."""
        return {
            "target": {
                "python_version": self.target.python_version,
                "architecture": self.target.architecture,
                "glibc": glibc_text(self.target.glibc),
            },
            "pins": [str(pin) for pin in self.pins],
            "handler_included": self.handler_included,
            "entry_points": list(self.entry_points),
            "files": self.files,
            "unzipped_bytes": self.unzipped,
            "zipped_bytes": self.zipped,
            "stripped_bytes": dict(self.stripped_bytes),
            "packages": {p.name: p.bytes for p in self.packages},
            "required_glibc": glibc_text(self.glibc) if self.glibc else None,
            "verdicts": [
                {"limit": v.limit_name, "fits": v.fits, "used": v.used} for v in self.verdicts
            ],
            "packaging": self.choice.packaging.value,
            "reasons": list(self.choice.reasons),
        }


def pip_install_command(
    python: str,
    package_dir: Path,
    target: LambdaTarget,
    lock: Path,
    requirements: Sequence[str],
    report: Path,
) -> list[str]:
    """pip, resolving the runtime requirements under the lock for the target machine."""
    return [
        python,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--no-compile",
        "--target",
        str(package_dir),
        *pip_target_options(target),
        "--constraint",
        str(lock),
        "--report",
        str(report),
        *requirements,
    ]


def last_lines(text: str, count: int = _PIP_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-count:])


def install_dependencies(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackagingError(
            f"pip install failed (exit {result.returncode}); its last lines:\n"
            + last_lines(result.stdout + result.stderr)
        )


def copy_sources(
    repo_root: Path, package_dir: Path, entry_points: Sequence[EntryPoint] = ENTRY_POINTS
) -> tuple[EntryPoint, ...]:
    """`k2` and every handler into the artifact root; the entry points whose handler exists."""
    shutil.copytree(
        repo_root / "k2",
        package_dir / "k2",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    copied = []
    for entry_point in entry_points:
        handler = repo_root / entry_point.source
        if handler.is_file():
            shutil.copy2(handler, package_dir / entry_point.file_name)
            copied.append(entry_point)
    return tuple(copied)


def tree_files(root: Path) -> dict[PurePosixPath, int]:
    """Every regular file under `root` (relative, POSIX) with its size in bytes."""
    return {
        PurePosixPath(path.relative_to(root).as_posix()): path.stat().st_size
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    }


def apply_strip(root: Path, plan: StripPlan, sizes: dict[PurePosixPath, int]) -> Counter[str]:
    """Delete the stripped files, then the directories left empty; bytes removed per reason."""
    removed: Counter[str] = Counter()
    for path, reason in plan.stripped:
        (root / path).unlink()
        removed[reason] += sizes[path]
    for directory in sorted((d for d in root.rglob("*") if d.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    return removed


def dist_infos(root: Path) -> list[Path]:
    return sorted(root.glob("*.dist-info"))


def artifact_glibc(root: Path) -> tuple[Glibc | None, list[str]]:
    wheels = {
        info.name.removesuffix(".dist-info"): wheel_glibc(wheel_tags((info / "WHEEL").read_text()))
        for info in dist_infos(root)
        if (info / "WHEEL").is_file()
    }
    return required_glibc(wheels)


def package_sizes(root: Path, files: dict[PurePosixPath, int]) -> list[PackageSize]:
    records = [
        (PurePosixPath(info.name), (info / "RECORD").read_text())
        for info in dist_infos(root)
        if (info / "RECORD").is_file()
    ]
    return sizes_by_package(files, owners_from_records(records))


def build_artifact(
    out: Path,
    target: LambdaTarget,
    repo_root: Path = REPO_ROOT,
    step: Callable[[str], Any] | None = None,
) -> Artifact:
    """Build `out/package/` and `out/k2-api-lambda.zip` from scratch and measure them."""
    step = step or _silent_step
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    requirements = runtime_requirements(pyproject)
    lock_path = repo_root / "requirements.lock"
    lock = parse_lock(lock_path.read_text())

    out.mkdir(parents=True, exist_ok=True)
    package_dir = out / "package"
    zip_path = out / ZIP_NAME
    report_path = out / "pip-report.json"
    shutil.rmtree(package_dir, ignore_errors=True)
    zip_path.unlink(missing_ok=True)

    with step(f"pip: {len(requirements)} runtime requirements under requirements.lock"):
        install_dependencies(
            pip_install_command(
                sys.executable, package_dir, target, lock_path, requirements, report_path
            )
        )
    pins = resolved_pins(json.loads(report_path.read_text()))
    problems = lock_violations(pins, lock) + [
        f"{name} is in pyproject's dependencies but pip did not install it"
        for name in missing_requirements(requirements, pins)
    ]
    if problems:
        raise PackagingError("the resolved set disagrees with the lock:\n" + "\n".join(problems))

    with step("copy k2 and the handlers"):
        entry_points = copy_sources(repo_root, package_dir)
    with step("strip what Python never imports"):
        files = tree_files(package_dir)
        removed = apply_strip(package_dir, plan_strip(files), files)
    files = tree_files(package_dir)
    unzipped = sum(files.values())
    with step(f"zip {len(files):,} files ({mib(unzipped)})"):
        zipped = write_zip(package_dir, files, zip_path)

    glibc, glibc_wheels = artifact_glibc(package_dir)
    artifact = Artifact(
        package_dir=package_dir,
        zip_path=zip_path,
        target=target,
        pins=pins,
        handler_included=API in entry_points,
        entry_points=tuple(entry_point.command for entry_point in entry_points),
        files=len(files),
        unzipped=unzipped,
        zipped=zipped,
        stripped_bytes=removed,
        packages=tuple(package_sizes(package_dir, files)),
        glibc=glibc,
        glibc_wheels=tuple(glibc_wheels),
        verdicts=tuple(verdicts(unzipped, zipped)),
        choice=choose_packaging(unzipped, glibc, managed_runtime_glibc(target.python_version)),
    )
    (out / "artifact.json").write_text(json.dumps(artifact.summary(), indent=2) + "\n")
    return artifact


@contextmanager
def _silent_step(_: str) -> Iterator[None]:
    yield


def _console_step(console: Console) -> Callable[[str], Any]:
    @contextmanager
    def step(name: str) -> Iterator[None]:
        started = time.monotonic()
        with console.status(name):
            yield
        console.print(f"[green]done[/] {name} [dim]({time.monotonic() - started:.1f} s)[/]")

    return step


def render(artifact: Artifact, console: Console, top: int = 10) -> None:
    target = artifact.target
    console.print(
        f"\n[bold]{artifact.zip_path}[/]  (Python {target.python_version}, {target.architecture}, "
        f"glibc ≤ {glibc_text(target.glibc)}; {len(artifact.pins)} distributions, "
        f"{artifact.files:,} files)"
    )
    if not artifact.handler_included:
        console.print(f"[yellow]note:[/] {HANDLER} does not exist yet: the artifact has no handler")
    console.print(f"entry points (the image's CMD): {', '.join(artifact.entry_points) or 'none'}")
    console.print(f"unzipped {mib(artifact.unzipped)}   zipped {mib(artifact.zipped)}")
    stripped = ", ".join(
        f"{reason} {mib(size)}" for reason, size in artifact.stripped_bytes.most_common()
    )
    console.print(f"stripped {mib(sum(artifact.stripped_bytes.values()))}: {stripped or 'nothing'}")

    table = Table(title=f"top {top} packages by unzipped size")
    table.add_column("package")
    table.add_column("size", justify="right")
    table.add_column("share", justify="right")
    for package in artifact.packages[:top]:
        table.add_row(package.name, mib(package.bytes), f"{package.bytes / artifact.unzipped:.0%}")
    console.print(table)

    for verdict in artifact.verdicts:
        console.print(("[green]" if verdict.fits else "[red]") + str(verdict) + "[/]")
    if artifact.glibc is not None:
        console.print(
            f"needs glibc ≥ {glibc_text(artifact.glibc)} ({', '.join(artifact.glibc_wheels)}); "
            f"Lambda's managed python{target.python_version} runtime has "
            f"{glibc_text(managed_runtime_glibc(target.python_version))}"
        )
    console.print(f"[bold]packaging: {artifact.choice.packaging.value}[/]")
    for reason in artifact.choice.reasons:
        console.print(f"  - {reason}")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m k2.packaging.lambda_artifact",
        description="Build the query API's Lambda artifact and measure it against Lambda's limits.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    parser.add_argument("--platform", choices=["x86_64", "arm64"], default="x86_64")
    parser.add_argument(
        "--glibc",
        default=glibc_text(LambdaTarget().glibc),
        help="newest glibc the wheels may need (default %(default)s: Amazon Linux 2023)",
    )
    parser.add_argument("--python-version", default=LambdaTarget().python_version)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    console = Console()
    target = LambdaTarget(
        python_version=arguments.python_version,
        architecture=arguments.platform,
        glibc=parse_glibc(arguments.glibc),
    )
    try:
        artifact = build_artifact(arguments.out, target, step=_console_step(console))
    except PackagingError as error:
        console.print(f"[red]error:[/] {error}", highlight=False)
        return 1
    render(artifact, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
