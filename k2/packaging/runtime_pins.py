"""Which locked pins make up the Lambda runtime set.

pip resolves the graph (the names in pyproject's `dependencies`, constrained by
requirements.lock); this module only reads its install report and holds the result against the
lock, so a package the lock does not pin, or pins differently, fails the build instead of
slipping into the artifact unpinned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from k2.packaging.errors import PackagingError

# PEP 508: a distribution name starts the requirement string.
_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


@dataclass(frozen=True, order=True)
class Pin:
    """One distribution at one exact version."""

    name: str  # canonical (PEP 503)
    version: str

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: `Pygments`, `typing_extensions` and `typing-extensions` compare."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The canonical distribution name a PEP 508 requirement string names."""
    match = _NAME.match(requirement)
    if match is None:
        raise PackagingError(f"not a requirement: {requirement!r}")
    return canonical_name(match.group(1))


def runtime_requirements(pyproject: Mapping[str, Any]) -> tuple[str, ...]:
    """pyproject's `[project] dependencies`: the Lambda/Glue runtime set, extras excluded."""
    dependencies = pyproject.get("project", {}).get("dependencies")
    if not isinstance(dependencies, list) or not dependencies:
        raise PackagingError("pyproject.toml has no [project] dependencies")
    return tuple(str(requirement) for requirement in dependencies)


def parse_lock(text: str) -> dict[str, Pin]:
    """requirements.lock as canonical name → pin; every line must be an exact `name==version`."""
    pins: dict[str, Pin] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if match is None:
            raise PackagingError(f"requirements.lock line {number} is not name==version: {raw!r}")
        pin = Pin(canonical_name(match.group(1)), match.group(2))
        pins[pin.name] = pin
    return pins


def resolved_pins(install_report: Mapping[str, Any]) -> tuple[Pin, ...]:
    """What pip installed, from its `--report` JSON (installation report format, version 1)."""
    pins = {
        Pin(canonical_name(item["metadata"]["name"]), str(item["metadata"]["version"]))
        for item in install_report.get("install", [])
    }
    return tuple(sorted(pins))


def lock_violations(resolved: Iterable[Pin], lock: Mapping[str, Pin]) -> list[str]:
    """Each resolved package the lock does not pin, or pins at another version."""
    problems: list[str] = []
    for pin in resolved:
        locked = lock.get(pin.name)
        if locked is None:
            problems.append(f"{pin} is not pinned by requirements.lock")
        elif locked.version != pin.version:
            problems.append(f"{pin} but requirements.lock pins {locked}")
    return problems


def missing_requirements(requirements: Iterable[str], resolved: Iterable[Pin]) -> list[str]:
    """Names from pyproject's dependencies that the resolved set does not contain."""
    names = {pin.name for pin in resolved}
    return sorted({requirement_name(r) for r in requirements} - names)
