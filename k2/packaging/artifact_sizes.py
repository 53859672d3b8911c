"""How big the artifact is, and which distributions make it so.

Each file is charged to the distribution whose `.dist-info/RECORD` lists it; files no RECORD
lists (the `k2` package, `handler.py`) are charged to their top-level name.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

MIB = 1024 * 1024


@dataclass(frozen=True)
class PackageSize:
    name: str
    bytes: int


def record_paths(dist_info: PurePosixPath, record_text: str) -> list[PurePosixPath]:
    """The files a RECORD lists, relative to the directory the `.dist-info` sits in."""
    base = dist_info.parent
    paths: list[PurePosixPath] = []
    for row in csv.reader(record_text.splitlines()):
        if row and row[0]:
            paths.append(PurePosixPath(base, row[0]))
    return paths


def distribution_name(dist_info: PurePosixPath) -> str:
    """`pydantic_core-2.50.5.dist-info` → `pydantic_core`."""
    return dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0]


def sizes_by_package(
    file_sizes: Mapping[PurePosixPath, int], owners: Mapping[PurePosixPath, str]
) -> list[PackageSize]:
    """Bytes per distribution, largest first (ties by name, so the order is stable)."""
    totals: Counter[str] = Counter()
    for path, size in file_sizes.items():
        totals[owners.get(path, path.parts[0])] += size
    return [
        PackageSize(name, size)
        for name, size in sorted(totals.items(), key=lambda i: (-i[1], i[0]))
    ]


def owners_from_records(records: Iterable[tuple[PurePosixPath, str]]) -> dict[PurePosixPath, str]:
    """file → distribution, from (`.dist-info` path, RECORD text) pairs."""
    owners: dict[PurePosixPath, str] = {}
    for dist_info, text in records:
        name = distribution_name(dist_info)
        for path in record_paths(dist_info, text):
            owners[path] = name
    return owners


def mib(size: int) -> str:
    return f"{size / MIB:,.1f} MiB"
