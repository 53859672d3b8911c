"""Synthesise the CDK app with the real CDK CLI (offline) and read what it wrote.

The CLI runs ``python -m infra_cdk.app`` (cdk.json) exactly as ``cdk deploy`` would; the infra
tests and ``bench/cdk_synth.py`` read the cloud assembly it leaves: templates, the cdk-nag
validation report and the stacks' metadata.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from infra_cdk.repo import REPO_ROOT

CDK_CLI = REPO_ROOT / "infra_cdk/node_modules/.bin/cdk"
STACK_CONCERNS = (
    "Network",
    "Streaming",
    "Lakehouse",
    "Ingestion",
    "Processing",
    "Api",
    "Analytics",
    "Observability",
)


@dataclass(frozen=True)
class CloudAssembly:
    directory: Path
    environment: str
    synth_seconds: float

    def stack_name(self, concern: str) -> str:
        return f"K2-{self.environment}-{concern}"

    def template(self, concern: str) -> dict[str, Any]:
        path = self.directory / f"{self.stack_name(concern)}.template.json"
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded

    def resources(self, concern: str, resource_type: str | None = None) -> dict[str, Any]:
        resources: dict[str, Any] = self.template(concern)["Resources"]
        return {
            logical_id: resource
            for logical_id, resource in resources.items()
            if resource_type is None or resource["Type"] == resource_type
        }

    def all_templates(self) -> dict[str, dict[str, Any]]:
        return {concern: self.template(concern) for concern in STACK_CONCERNS}

    @cached_property
    def nag_report(self) -> dict[str, Any]:
        report = json.loads((self.directory / "validation-report.json").read_text())
        (plugin,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
        result: dict[str, Any] = plugin
        return result

    @cached_property
    def acknowledgements(self) -> list[tuple[str, str, str]]:
        """Every acknowledgement the app declared: (construct path, id, reason)."""
        found = []
        for concern in STACK_CONCERNS:
            metadata_file = self.directory / f"{self.stack_name(concern)}.metadata.json"
            metadata = json.loads(metadata_file.read_text())
            for path, entries in metadata.items():
                for entry in entries:
                    if entry["type"] == "aws:cdk:acknowledged-rules":
                        for rule, reason in entry["data"].items():
                            found.append((path.lstrip("/"), rule, reason))
        return found


def synthesise(
    outdir: Path,
    *context: str,
    region: str | None = None,
    account: str | None = None,
    must_pass: bool = True,
    app: str | None = None,
) -> CloudAssembly:
    """``cdk synth`` into ``outdir``; ``context`` are ``key=value`` pairs passed with ``-c``.

    The CLI runs in a working directory of its own next to ``outdir``, with the repository's
    ``cdk.json`` (its app command pointed at this interpreter), so a synth never writes the
    repository's ``cdk.context.json``. ``account`` synthesises for a known account, as
    ``cdk deploy`` does with credentials; the availability zones it would look up are given."""
    if not CDK_CLI.exists():
        raise RuntimeError(f"{CDK_CLI} is missing: `make install` installs the CDK CLI from npm")
    env = {
        **os.environ,
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1",
    }
    # Offline and account-free: no credentials, no endpoint (a test session's local cloud would
    # otherwise answer STS with moto's account), no shared config files, no instance metadata.
    for variable in list(env):
        if variable.startswith(("AWS_", "CDK_DEFAULT_")):
            env.pop(variable)
    env |= {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if region is not None:
        env["AWS_REGION"] = region
    workdir = _working_directory(outdir, account, region or "us-east-1")
    if account is not None:
        env["CDK_DEFAULT_ACCOUNT"] = account
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [str(CDK_CLI), "synth", "--quiet", "--output", str(outdir)]
    if app is not None:  # another app than cdk.json's (the benchmark's baseline)
        command += ["--app", app]
    for pair in context:
        command += ["--context", pair]
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if must_pass and completed.returncode != 0:
        raise RuntimeError(
            f"cdk synth failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        )
    environment = next(
        (pair.split("=", 1)[1] for pair in context if pair.startswith("k2:environment=")), "dev"
    )
    return CloudAssembly(outdir, environment, seconds)


def _working_directory(outdir: Path, account: str | None, region: str) -> Path:
    workdir = outdir.parent / f"{outdir.name}.app"
    workdir.mkdir(parents=True, exist_ok=True)
    settings = json.loads((REPO_ROOT / "cdk.json").read_text())
    settings["app"] = f"{sys.executable} -m infra_cdk.app"
    (workdir / "cdk.json").write_text(json.dumps(settings))
    if account is not None:
        zones = [f"{region}{letter}" for letter in "abc"]
        lookups = {f"availability-zones:account={account}:region={region}": zones}
        (workdir / "cdk.context.json").write_text(json.dumps(lookups))
    return workdir


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM policy statement of a template (inline policies and role policies)."""
    found: list[dict[str, Any]] = []
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += properties["PolicyDocument"]["Statement"]
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                found += policy["PolicyDocument"]["Statement"]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
