"""The Spark jobs' artifacts (k2 wheel, entry scripts, connector jars), built at synth time.

``python -m k2.packaging.spark_job_artifacts`` does the work (and skips what is current), in a
subprocess: the CDK app must not import the packaging code. Its ``manifest.json`` tells the
Processing stack which files exist, so the job arguments list exactly the jars that ship.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra_cdk.repo import REPO_ROOT

OUTPUT_DIR = REPO_ROOT / "dist" / "spark-jobs"


@dataclass(frozen=True)
class SparkJobArtifacts:
    directory: Path
    wheel: str  # paths relative to ``directory``
    scripts: dict[str, str]
    jars: tuple[str, ...]


def build_spark_job_artifacts(output_dir: Path = OUTPUT_DIR) -> SparkJobArtifacts:
    subprocess.run(
        [sys.executable, "-m", "k2.packaging.spark_job_artifacts", str(output_dir)],
        check=True,
        cwd=REPO_ROOT,
        stdout=sys.stderr,  # the CDK CLI reads the app's stdout
    )
    manifest = json.loads((output_dir / "manifest.json").read_text())
    files = manifest["files"]
    wheels = [entry["path"] for entry in files if entry["kind"] == "wheel"]
    if len(wheels) != 1:
        raise RuntimeError(f"expected one k2 wheel in {output_dir}, found {wheels}")
    scripts = {
        Path(entry["path"]).stem: entry["path"] for entry in files if entry["kind"] == "script"
    }
    jars = tuple(sorted(entry["path"] for entry in files if entry["kind"] == "jar"))
    return SparkJobArtifacts(output_dir, wheels[0], scripts, jars)
