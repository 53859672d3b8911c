"""The feed handlers: one ECS Fargate service per exchange, from ``containers/feed_handler``.

Each service runs one task (the handler is one asyncio process per exchange; ids are
deterministic, so the brief overlap of a rolling deployment publishes nothing twice that gold
would keep). ECS restarts a task that exits or fails its health check; the deployment circuit
breaker rolls back a release whose tasks never become healthy.
"""

from __future__ import annotations

from aws_cdk import Duration, Environment, IgnoreMode, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra_cdk.log_retention import log_retention
from infra_cdk.nag import acknowledge, finding_resource
from infra_cdk.repo import FEED_HANDLER_DOCKERFILE, REPO_ROOT, docker_context_excludes
from infra_cdk.stacks.lakehouse import LakehouseStack
from infra_cdk.stacks.network import NetworkStack
from infra_cdk.stacks.streaming import TOPIC_PREFIX, StreamingStack
from k2.deployment.config import DeploymentConfig
from k2.domain.markets import Exchange

LIVENESS_MAX_AGE_S = 120
"""The health check fails when the handler has not published for this long (see
``k2.feeds.liveness``); the exchanges' quiet markets still tick well inside it."""


class IngestionStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        network: NetworkStack,
        streaming: StreamingStack,
        lakehouse: LakehouseStack,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        image = ecs.ContainerImage.from_asset(
            str(REPO_ROOT),
            file=FEED_HANDLER_DOCKERFILE,
            exclude=docker_context_excludes(FEED_HANDLER_DOCKERFILE),
            ignore_mode=IgnoreMode.DOCKER,
        )
        self.services: dict[Exchange, ecs.FargateService] = {}
        self.log_groups: list[logs.LogGroup] = []
        for exchange in config.exchanges:
            self.services[exchange] = self._feed_service(
                config, exchange, image, network, streaming, lakehouse
            )

    def _feed_service(
        self,
        config: DeploymentConfig,
        exchange: Exchange,
        image: ecs.ContainerImage,
        network: NetworkStack,
        streaming: StreamingStack,
        lakehouse: LakehouseStack,
    ) -> ecs.FargateService:
        name = f"Feed-{exchange}"
        task = ecs.FargateTaskDefinition(
            self,
            f"{name}Task",
            cpu=config.feed_handler.cpu,
            memory_limit_mib=config.feed_handler.memory_mib,
        )
        log_group = logs.LogGroup(
            self, f"{name}Logs", retention=log_retention(config.retention.log_days)
        )
        self.log_groups.append(log_group)
        task.add_container(
            "feed-handler",
            image=image,
            command=["--exchange", str(exchange)],
            environment=feed_environment(config, exchange, streaming, lakehouse),
            logging=ecs.LogDrivers.aws_logs(stream_prefix=str(exchange), log_group=log_group),
            health_check=ecs.HealthCheck(
                command=[
                    "CMD",
                    "python",
                    "-m",
                    "k2.feeds.liveness",
                    "--max-age",
                    str(LIVENESS_MAX_AGE_S),
                ],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                retries=3,
                start_period=Duration.seconds(120),
            ),
            stop_timeout=Duration.seconds(60),
            readonly_root_filesystem=False,
        )
        grant_feed_handler(task.task_role, streaming, lakehouse)
        if task.execution_role is not None:
            acknowledge(
                task.execution_role,
                "AwsSolutions-IAM5[Resource::*]",
                "ecr:GetAuthorizationToken, which the execution role needs to pull the image, "
                "supports no resource-level permissions; AWS documents Resource '*'.",
            )
        service = ecs.FargateService(
            self,
            f"{name}Service",
            cluster=self.cluster,
            task_definition=task,
            desired_count=1,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            security_groups=[network.kafka_clients],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            assign_public_ip=False,
        )
        acknowledge(
            task,
            "AwsSolutions-ECS2",
            "The environment holds only names and endpoints (topics, registry, bootstrap "
            "brokers); no secret is passed in it.",
        )
        return service


def feed_environment(
    config: DeploymentConfig,
    exchange: Exchange,
    streaming: StreamingStack,
    lakehouse: LakehouseStack,
) -> dict[str, str]:
    """``K2Settings`` and ``FeedSettings`` of one handler (``docs/deploy.md`` lists them)."""
    return {
        **lakehouse.settings_environment(),
        **streaming.settings_environment(),
        "K2_FEED_EXCHANGE": str(exchange),
        "K2_FEED_BINANCE_SYMBOLS": ",".join(config.binance_symbols),
        "K2_FEED_KRAKEN_SYMBOLS": ",".join(config.kraken_symbols),
    }


def grant_feed_handler(
    role: iam.IRole, streaming: StreamingStack, lakehouse: LakehouseStack
) -> None:
    """Produce to (and read the tail of) K2's topics; register and read its schemas."""
    role.add_to_principal_policy(streaming.cluster_connect_statement())
    topics = streaming.topic_arn(f"{TOPIC_PREFIX}*")
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "kafka-cluster:DescribeTopic",
                "kafka-cluster:WriteData",
                "kafka-cluster:ReadData",
            ],
            resources=[topics],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kafka-cluster:WriteDataIdempotently"], resources=[streaming.cluster_arn]
        )
    )
    schemas = Stack.of(lakehouse).format_arn(
        service="glue", resource="schema", resource_name=f"{lakehouse.registry_name}/*"
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "glue:CreateSchema",
                "glue:RegisterSchemaVersion",
                "glue:GetSchemaVersion",
                "glue:GetSchemaByDefinition",
            ],
            resources=[lakehouse.registry_arn, schemas],
        )
    )
    for resource, why in (
        (topics, "K2's own topics (market.crypto.*) of this cluster"),
        (schemas, "the schemas of K2's own registry (one per raw topic)"),
    ):
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{finding_resource(lakehouse, resource)}]",
            f"Scoped to {why}; the names are defined in k2.domain.markets.",
        )
