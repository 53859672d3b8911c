"""What the build removes from the installed tree, and why each rule cannot break an import.

Only files Python never imports at run time go: bytecode caches (the build's timestamps would not
match the zip's anyway, and a read-only /var/task cannot refresh them), Cython sources and C
headers (used to build against pyarrow and numpy, not to run them), type stubs, console scripts
(their `#!` names the build machine's interpreter), and the test suites of the two packages whose
tests are known to be import-isolated. Every `.dist-info` stays: opentelemetry, pydantic and
duckdb read their own metadata or entry points, and the licences inside must ship with the code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

_NEVER_IMPORTED_SUFFIXES = frozenset({".pyc", ".pyo", ".pyi", ".pyx", ".pxd", ".pxi"})

# Packages whose `tests` directories nothing outside them imports (numpy.test() and pyarrow's
# pytest plugin are the only users); other packages' `tests` stay, since some import them.
_PACKAGES_WITH_ISOLATED_TESTS = frozenset({"numpy", "pyarrow"})

# C/C++ headers and sources shipped for building extensions against the package.
_BUILD_ONLY_DIRECTORIES = frozenset(
    {
        PurePosixPath("numpy/_core/include"),
        PurePosixPath("pyarrow/include"),
        PurePosixPath("pyarrow/includes"),
        PurePosixPath("pyarrow/src"),
    }
)


def strip_reason(path: PurePosixPath) -> str | None:
    """Why the file at `path` (relative to the artifact root) is left out, or None to keep it."""
    parts = path.parts
    if parts[0].endswith(".dist-info"):
        return None
    if "__pycache__" in parts or path.suffix in {".pyc", ".pyo"}:
        return "bytecode cache"
    if path.suffix in _NEVER_IMPORTED_SUFFIXES:
        return "type stub" if path.suffix == ".pyi" else "Cython source"
    if parts[0] == "bin":
        return "console script"
    if any(path.is_relative_to(directory) for directory in _BUILD_ONLY_DIRECTORIES):
        return "C/C++ headers and sources"
    if parts[0] in _PACKAGES_WITH_ISOLATED_TESTS and "tests" in parts[1:-1]:
        return "test suite"
    return None


@dataclass(frozen=True)
class StripPlan:
    """The artifact's files split into those kept and those left out (with the reason)."""

    kept: tuple[PurePosixPath, ...]
    stripped: tuple[tuple[PurePosixPath, str], ...]


def plan_strip(paths: Iterable[PurePosixPath]) -> StripPlan:
    kept: list[PurePosixPath] = []
    stripped: list[tuple[PurePosixPath, str]] = []
    for path in sorted(paths):
        reason = strip_reason(path)
        if reason is None:
            kept.append(path)
        else:
            stripped.append((path, reason))
    return StripPlan(tuple(kept), tuple(stripped))
