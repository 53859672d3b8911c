"""What can be checked of the feed handler image without a Docker engine: every file it copies
exists, everything else is kept out of the build context, and its entry point runs."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DOCKERFILE = Path("containers/feed_handler/Dockerfile")


def _instructions(repo_root: Path) -> list[tuple[str, str]]:
    lines = (repo_root / DOCKERFILE).read_text().splitlines()
    joined: list[str] = []
    for line in lines:
        if line.strip().startswith("#") or not line.strip():
            continue
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line.strip())
    return [(line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1]) for line in joined]


def test_every_copied_path_exists_and_is_not_ignored(repo_root: Path) -> None:
    ignore = (repo_root / f"{DOCKERFILE}.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copies = [args for op, args in _instructions(repo_root) if op == "COPY"]
    assert copies
    for args in copies:
        *sources, _destination = shlex.split(args)
        for source in sources:
            assert (repo_root / source).exists(), source
            assert any(source == a or source.startswith(a + "/") for a in allowed), source


def test_the_entry_point_is_k2_feed_and_it_runs(repo_root: Path) -> None:
    entrypoint = dict(_instructions(repo_root))["ENTRYPOINT"]
    assert entrypoint == '["k2", "feed"]'
    result = subprocess.run(
        [sys.executable, "-m", "k2.cli", "feed", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=repo_root,
    )
    assert result.returncode == 0, result.stderr
    assert "--exchange" in result.stdout
    assert "SIGTERM" in result.stdout


def test_the_image_runs_as_an_unprivileged_user(repo_root: Path) -> None:
    users = [args for op, args in _instructions(repo_root) if op == "USER"]
    assert users and users[-1] not in ("root", "0")
