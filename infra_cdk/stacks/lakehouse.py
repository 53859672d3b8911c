"""The lake: S3 buckets, the Glue database, the schema registry and the Iceberg tables.

The tables are created by a custom resource running ``k2 lake init``'s code (``init_lake``)
against the real Glue catalog, so each table is defined once, in ``k2.lake``; a change to any
definition changes the resource's fingerprint and the tables are evolved on the next deploy.
Stack operations never delete market data: the lake bucket, the database, the registry and the
tables are retained when the stack is deleted.
"""

from __future__ import annotations

import hashlib
import json

from aws_cdk import Aws, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra_cdk.functions_image import LAKE_INIT_HANDLER, K2CustomResource
from infra_cdk.nag import acknowledge, finding_resource
from infra_cdk.repo import SCHEMAS_DIR
from k2.deployment.config import DeploymentConfig
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.lake.tables import all_tables

SCHEMA_COMPATIBILITY = "BACKWARD"  # what the feed handlers' registry client declares


def glue_database_name(config: DeploymentConfig) -> str:
    """Glue and Athena names allow no '-'."""
    return f"k2_{config.environment.replace('-', '_')}"


def raw_schema_file(exchange: Exchange, data_type: DataType) -> str:
    """``schemas/<exchange>_raw_<trade|quote>.avsc``: the writer schema of a raw topic."""
    return f"{exchange}_raw_{data_type.removesuffix('s')}"


def bucket_name(config: DeploymentConfig, purpose: str) -> str:
    """``k2-<env>-<purpose>-<account>-<region>``: globally unique, known before deployment."""
    return f"k2-{config.environment}-{purpose}-{Aws.ACCOUNT_ID}-{Aws.REGION}"


def tables_fingerprint() -> str:
    """Changes when any table definition changes, so the custom resource runs an Update."""
    definitions = [
        {"name": table.name, "ddl": table.spark_statements("k2")} for table in all_tables()
    ]
    return hashlib.sha256(json.dumps(definitions, sort_keys=True).encode()).hexdigest()


class LakehouseStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env)
        self.config = config
        self.access_logs_bucket_name = bucket_name(config, "logs")
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            bucket_name=self.access_logs_bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(expiration=Duration.days(config.retention.access_log_days))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.lake_bucket_name = bucket_name(config, "lake")
        self.checkpoints_bucket_name = bucket_name(config, "ckpt")
        self.athena_results_bucket_name = bucket_name(config, "athena")
        self.lake = self._bucket(
            "Lake", self.lake_bucket_name, versioned=True, removal=RemovalPolicy.RETAIN
        )
        self.checkpoints = self._bucket(
            "Checkpoints",
            self.checkpoints_bucket_name,
            versioned=False,
            removal=RemovalPolicy.RETAIN,
        )
        self.athena_results = self._bucket(
            "AthenaResults",
            self.athena_results_bucket_name,
            versioned=False,
            removal=RemovalPolicy.DESTROY,
            expire_after_days=config.retention.athena_results_days,
        )
        self.artifacts_bucket_name = bucket_name(config, "artifacts")
        self.artifacts = self._bucket(
            "Artifacts",
            self.artifacts_bucket_name,
            versioned=False,
            removal=RemovalPolicy.DESTROY,
        )
        self.database_name = glue_database_name(config)
        self.warehouse = f"s3://{self.lake_bucket_name}/warehouse"
        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="K2 lakehouse: bronze, silver and gold Iceberg tables",
                location_uri=self.warehouse,
            ),
        )
        database.apply_removal_policy(RemovalPolicy.RETAIN)
        self.registry_name = config.resource_name("market-data")
        registry = glue.CfnRegistry(
            self,
            "SchemaRegistry",
            name=self.registry_name,
            description="Avro schemas of the K2 Kafka topics",
        )
        registry.apply_removal_policy(RemovalPolicy.RETAIN)
        self.registry_arn = self.format_arn(
            service="glue", resource="registry", resource_name=self.registry_name
        )
        for exchange in config.exchanges:
            for data_type in DataType:
                topic = raw_topic(data_type, exchange)
                schema_file = SCHEMAS_DIR / f"{raw_schema_file(exchange, data_type)}.avsc"
                schema = glue.CfnSchema(
                    self,
                    f"Schema-{exchange}-{data_type}",
                    name=topic,  # the feed handlers register each raw schema under its topic
                    registry=glue.CfnSchema.RegistryProperty(arn=registry.attr_arn),
                    data_format="AVRO",
                    compatibility=SCHEMA_COMPATIBILITY,
                    schema_definition=schema_file.read_text(),
                )
                schema.apply_removal_policy(RemovalPolicy.RETAIN)
        self.tables = K2CustomResource(
            self,
            "Tables",
            handler=LAKE_INIT_HANDLER,
            environment={**self.settings_environment(), "POWERTOOLS_SERVICE_NAME": "k2-lake-init"},
            properties={"TablesFingerprint": tables_fingerprint()},
            log_days=config.retention.log_days,
        )
        self.tables.node.add_dependency(database)
        self.tables.role.add_to_policy(self.catalog_statement(write=True))
        self.grant_warehouse(self.tables.role, write=True)
        self.acknowledge_catalog_tables(self.tables.role)

    def settings_environment(self) -> dict[str, str]:
        """The lake's names as ``K2Settings`` reads them (``K2_<FIELD>``), for every deployable."""
        return {
            "K2_ENVIRONMENT": self.config.environment,
            "K2_REGION": Aws.REGION,
            "K2_GLUE_DATABASE": self.database_name,
            "K2_LAKE_BUCKET": self.lake_bucket_name,
            "K2_CHECKPOINTS_BUCKET": self.checkpoints_bucket_name,
            "K2_SCHEMA_REGISTRY_NAME": self.registry_name,
        }

    def _bucket(
        self,
        construct_id: str,
        name: str,
        *,
        versioned: bool,
        removal: RemovalPolicy,
        expire_after_days: int | None = None,
    ) -> s3.Bucket:
        rules = []
        if versioned:
            rules.append(
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(
                        self.config.retention.noncurrent_version_days
                    ),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            )
        if expire_after_days is not None:
            rules.append(s3.LifecycleRule(expiration=Duration.days(expire_after_days)))
        if not rules:
            rules.append(s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(7)))
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=versioned,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{construct_id.lower()}/",
            lifecycle_rules=rules,
            removal_policy=removal,
            auto_delete_objects=False,
        )

    def catalog_statement(self, *, write: bool) -> iam.PolicyStatement:
        """Glue Data Catalog access to K2's database and its tables only."""
        actions = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables"]
        if write:
            # pyiceberg's create_table tries CreateDatabase first and accepts "already exists"
            actions += ["glue:CreateDatabase", "glue:CreateTable", "glue:UpdateTable"]
        return iam.PolicyStatement(actions=actions, resources=self.catalog_arns())

    def catalog_arns(self) -> list[str]:
        stack = Stack.of(self)
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=self.database_name),
            stack.format_arn(
                service="glue", resource="table", resource_name=f"{self.database_name}/*"
            ),
        ]

    def bucket_in(self, scope: Construct, construct_id: str, name: str) -> s3.IBucket:
        """One of this stack's buckets as seen from ``scope``: by its deterministic name, so
        grants there carry no cross-stack export (and cdk-nag can name their resources)."""
        return s3.Bucket.from_bucket_name(scope, construct_id, name)

    def grant_warehouse(self, role: iam.IRole, *, write: bool) -> None:
        """Read (and write) the Iceberg warehouse: data and metadata files under ``warehouse/``."""
        lake = self.bucket_in(
            Stack.of(role), f"WarehouseBucket{role.node.addr[:8]}", self.lake_bucket_name
        )
        if write:
            lake.grant_read_write(role, "warehouse/*")
        else:
            lake.grant_read(role, "warehouse/*")
        reason_s3 = (
            "Iceberg writes data and metadata files with generated names under the warehouse "
            "prefix; access is limited to that prefix of the lake bucket."
        )
        warehouse = finding_resource(role, lake.arn_for_objects("warehouse/*"))
        acknowledge(role, f"AwsSolutions-IAM5[Resource::{warehouse}]", reason_s3)
        actions = ["s3:GetObject*", "s3:GetBucket*", "s3:List*"]
        if write:
            actions += ["s3:DeleteObject*", "s3:Abort*"]
        for action in actions:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's grant_read/grant_read_write action groups, scoped to the lake bucket's "
                "warehouse prefix (Iceberg needs get, list, put and delete of its files).",
            )

    def acknowledge_catalog_tables(self, role: iam.IRole) -> None:
        tables = finding_resource(self, self.catalog_arns()[2])
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{tables}]",
            "Every table of K2's own Glue database: the table set is defined in k2.lake and "
            "grows (new exchanges, new timeframes) without a policy change.",
        )
