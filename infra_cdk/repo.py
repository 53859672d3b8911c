"""Where the deployables live in the repository, and what each Docker build may see."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMAS_DIR = REPO_ROOT / "schemas"
FEED_HANDLER_DOCKERFILE = "containers/feed_handler/Dockerfile"
FUNCTIONS_DOCKERFILE = "functions/api/Dockerfile"


def docker_context_excludes(dockerfile: str) -> list[str]:
    """The patterns of ``<Dockerfile>.dockerignore`` (BuildKit's per-Dockerfile ignore file).

    The image assets use the repository root as their build context; CDK fingerprints and
    stages that context, so it must see the same ignore list Docker does, or a synth would hash
    (and copy) the virtualenv and the local cloud's data."""
    ignore_file = REPO_ROOT / f"{dockerfile}.dockerignore"
    lines = ignore_file.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
