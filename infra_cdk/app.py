"""The K2 CDK app: ``cdk synth`` / ``cdk deploy`` run ``python -m infra_cdk.app`` (cdk.json).

Stacks, in dependency order: Network → Streaming → Lakehouse → Ingestion → Processing → Api →
Analytics → Observability. The configuration is a :class:`DeploymentConfig` read from the CDK
context (``docs/deploy.md`` shows how to set it); the account and region come from the CDK
environment, never from this code.
"""

from __future__ import annotations

import os

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra_cdk.stacks.analytics import AnalyticsStack
from infra_cdk.stacks.api import ApiStack
from infra_cdk.stacks.ingestion import IngestionStack
from infra_cdk.stacks.lakehouse import LakehouseStack
from infra_cdk.stacks.network import NetworkStack
from infra_cdk.stacks.observability import ObservabilityStack
from infra_cdk.stacks.processing import ProcessingStack
from infra_cdk.stacks.streaming import StreamingStack
from k2.deployment.config import DeploymentConfig, load_deployment_config


def build_app(app: App | None = None) -> App:
    """Every stack of one deployment, checked by cdk-nag's AwsSolutions pack at synth."""
    app = app or App()
    config = load_deployment_config(app.node.get_all_context())
    env = Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=config.region or os.environ.get("CDK_DEFAULT_REGION"),
    )
    add_stacks(app, config, env)
    Tags.of(app).add("project", "k2")
    Tags.of(app).add("environment", config.environment)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


def add_stacks(app: App, config: DeploymentConfig, env: Environment) -> None:
    prefix = f"K2-{config.environment}"
    network = NetworkStack(app, f"{prefix}-Network", config=config, env=env)
    streaming = StreamingStack(app, f"{prefix}-Streaming", config=config, network=network, env=env)
    lakehouse = LakehouseStack(app, f"{prefix}-Lakehouse", config=config, env=env)
    ingestion = IngestionStack(
        app,
        f"{prefix}-Ingestion",
        config=config,
        network=network,
        streaming=streaming,
        lakehouse=lakehouse,
        env=env,
    )
    processing = ProcessingStack(
        app,
        f"{prefix}-Processing",
        config=config,
        network=network,
        streaming=streaming,
        lakehouse=lakehouse,
        env=env,
    )
    api = ApiStack(app, f"{prefix}-Api", config=config, lakehouse=lakehouse, env=env)
    AnalyticsStack(app, f"{prefix}-Analytics", config=config, lakehouse=lakehouse, env=env)
    ObservabilityStack(
        app,
        f"{prefix}-Observability",
        config=config,
        lakehouse=lakehouse,
        api=api,
        ingestion=ingestion,
        processing=processing,
        env=env,
    )


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
