"""The machine the artifact will run on, in the terms pip and wheel tags use.

A wheel tagged `manylinux_2_X` loads only where glibc is at least 2.X, so the target's glibc
decides which locked wheels are usable at all. Lambda's python3.11 runtime and its base image
run Amazon Linux 2 (glibc 2.26); python3.12 and later, and `provided.al2023`, run Amazon Linux
2023 (glibc 2.34).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Architecture = Literal["x86_64", "arm64"]
Glibc = tuple[int, int]

AMAZON_LINUX_2_GLIBC: Glibc = (2, 26)
AMAZON_LINUX_2023_GLIBC: Glibc = (2, 34)

# The manylinux tags of PEP 513/571/599, spelled as the glibc they stand for (PEP 600).
_LEGACY_MANYLINUX: dict[str, Glibc] = {
    "manylinux1": (2, 5),
    "manylinux2010": (2, 12),
    "manylinux2014": (2, 17),
}
_OLDEST_MANYLINUX_MINOR = 5
_MANYLINUX_TAG = re.compile(
    r"^(manylinux_(\d+)_(\d+)|manylinux1|manylinux2010|manylinux2014)_(\w+)$"
)


@dataclass(frozen=True)
class LambdaTarget:
    """CPython version, CPU and glibc of the place the artifact runs."""

    python_version: str = "3.11"
    architecture: Architecture = "x86_64"
    glibc: Glibc = AMAZON_LINUX_2023_GLIBC

    @property
    def machine(self) -> str:
        """The machine name wheel tags use (Lambda's arm64 is `aarch64`)."""
        return "aarch64" if self.architecture == "arm64" else "x86_64"


def pip_platforms(target: LambdaTarget) -> list[str]:
    """Every manylinux platform tag the target accepts, oldest first.

    pip does not expand `manylinux_2_34_x86_64` to the older glibc versions it implies, so all of
    them are listed; the legacy aliases too, for wheels tagged only with those.
    """
    major, minor = target.glibc
    tags = [
        f"manylinux_{major}_{m}_{target.machine}" for m in range(_OLDEST_MANYLINUX_MINOR, minor + 1)
    ]
    legacy = [
        f"{alias}_{target.machine}"
        for alias, glibc in _LEGACY_MANYLINUX.items()
        if glibc <= target.glibc
    ]
    return legacy + tags


def pip_target_options(target: LambdaTarget) -> list[str]:
    """pip options that resolve for the target instead of the machine running pip."""
    platforms = [option for p in pip_platforms(target) for option in ("--platform", p)]
    return [
        *platforms,
        "--python-version",
        target.python_version,
        "--implementation",
        "cp",
        "--only-binary=:all:",
    ]


def wheel_glibc(tags: Iterable[str]) -> Glibc | None:
    """The oldest glibc a wheel loads on, from its tags (`cp311-cp311-manylinux_2_28_x86_64`).

    A wheel carrying several manylinux tags loads wherever any of them does, so the oldest
    counts; None when no tag is manylinux (pure Python, or another platform).
    """
    found: list[Glibc] = []
    for tag in tags:
        platform = tag.split("-")[-1]
        for part in platform.split("."):
            match = _MANYLINUX_TAG.match(part)
            if match is None:
                continue
            if match.group(2) is not None:
                found.append((int(match.group(2)), int(match.group(3))))
            else:
                found.append(_LEGACY_MANYLINUX[match.group(1)])
    return min(found) if found else None


def wheel_tags(wheel_metadata: str) -> list[str]:
    """The `Tag:` lines of a `.dist-info/WHEEL` file."""
    return [
        line.split(":", 1)[1].strip()
        for line in wheel_metadata.splitlines()
        if line.startswith("Tag:")
    ]


def required_glibc(wheels: Mapping[str, Glibc | None]) -> tuple[Glibc | None, list[str]]:
    """The glibc the whole set needs (the newest any wheel needs) and the wheels that need it."""
    needs = {name: glibc for name, glibc in wheels.items() if glibc is not None}
    if not needs:
        return None, []
    newest = max(needs.values())
    return newest, sorted(name for name, glibc in needs.items() if glibc == newest)


def glibc_text(glibc: Glibc) -> str:
    return f"{glibc[0]}.{glibc[1]}"


def managed_runtime_glibc(python_version: str) -> Glibc:
    """The glibc of Lambda's managed Python runtime (and its base image) for that version."""
    minor = int(python_version.split(".")[1])
    return AMAZON_LINUX_2_GLIBC if minor <= 11 else AMAZON_LINUX_2023_GLIBC


def parse_glibc(text: str) -> Glibc:
    """`2.34` → (2, 34)."""
    major, _, minor = text.partition(".")
    return int(major), int(minor)
