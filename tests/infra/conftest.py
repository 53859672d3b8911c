"""The CDK app is synthesised once per session for each configuration the tests look at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aws_cdk.assertions import Template

from infra_cdk.cloud_assembly import CloudAssembly, synthesise

ALTERNATIVE_CONTEXT = (
    "k2:environment=prod",
    "k2:engine=emr-serverless",
    "k2:msk=provisioned",
    'k2:exchanges=["kraken"]',
    "k2:alarm_email=oncall@example.com",
    "k2:schedules.ohlcv_minutes=10",
)


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudAssembly]:
    """The default configuration (cdk.json): Glue, MSK Serverless, both exchanges."""
    yield synthesise(tmp_path_factory.mktemp("cdk-default") / "cdk.out")


@pytest.fixture(scope="session")
def alternative(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudAssembly]:
    """The alternatives: EMR Serverless, provisioned MSK, one exchange, another region."""
    outdir = tmp_path_factory.mktemp("cdk-alternative") / "cdk.out"
    yield synthesise(outdir, *ALTERNATIVE_CONTEXT, region="eu-west-1")


@pytest.fixture(scope="session")
def templates(assembly: CloudAssembly) -> dict[str, Template]:
    """``aws_cdk.assertions`` views of the default assembly's stacks, by concern."""
    return {
        concern: Template.from_json(template)
        for concern, template in assembly.all_templates().items()
    }


@pytest.fixture(scope="session")
def alternative_templates(alternative: CloudAssembly) -> dict[str, Template]:
    return {
        concern: Template.from_json(template)
        for concern, template in alternative.all_templates().items()
    }


@pytest.fixture(scope="session")
def account_assembly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudAssembly]:
    """Synthesised for a known account, as ``cdk deploy`` with credentials does: names that
    were tokens become literals, which acknowledgements and templates must survive."""
    outdir = tmp_path_factory.mktemp("cdk-account") / "cdk.out"
    yield synthesise(outdir, account="111111111111", region="eu-west-1")
