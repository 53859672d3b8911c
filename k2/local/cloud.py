"""Start, inspect and stop the local cloud: the AWS endpoint, the Kafka broker, the exchange
simulator, provisioning, and the API Gateway in front of the API's Lambda."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka.admin import KafkaAdminClient

from k2.local import java_artifacts, kafka_broker, provisioning
from k2.local.errors import LocalCloudError
from k2.local.layout import LocalCloudLayout, LocalCloudSettings
from k2.local.processes import ManagedProcess, ensure_port_free, port_is_listening, wait_until
from k2.local.usage_plans import create_demo_usage_plans, load_usage_plans

AWS_ENDPOINT = "aws-endpoint"
KAFKA = "kafka"
EXCHANGE_SIMULATOR = "exchange-simulator"
API_GATEWAY = "api-gateway"
INFRASTRUCTURE = (AWS_ENDPOINT, KAFKA, EXCHANGE_SIMULATOR)
"""Started first, and healthy before provisioning."""
COMPONENTS = (*INFRASTRUCTURE, API_GATEWAY)
FEED_BINANCE = "feed-binance"
FEED_KRAKEN = "feed-kraken"
PIPELINE = "pipeline"
FRESHNESS_CHECK = "freshness-check"
PIPELINE_COMPONENTS = (FEED_BINANCE, FEED_KRAKEN, PIPELINE, FRESHNESS_CHECK)
"""Started by ``up(pipeline=True)``: the live system on top of the cloud, no port of its own."""
STARTUP_TIMEOUT_S = 90.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    healthy: bool
    detail: str


class LocalCloud:
    def __init__(self, settings: LocalCloudSettings | None = None) -> None:
        self.layout = LocalCloudLayout(settings or LocalCloudSettings())

    def process(self, component: str) -> ManagedProcess:
        return ManagedProcess(
            component, self.layout.pid_file(component), self.layout.log_file(component)
        )

    def port(self, component: str) -> int:
        """The port whose answer says the component is healthy."""
        settings = self.layout.settings
        return {
            AWS_ENDPOINT: settings.aws_port,
            KAFKA: settings.kafka_port,
            EXCHANGE_SIMULATOR: settings.simulator_control_port,
            API_GATEWAY: settings.api_port,
        }[component]

    # --- up -----------------------------------------------------------------------------------

    def up(self, progress: Progress = lambda _: None, *, pipeline: bool = False) -> None:
        """Start what is not running, wait until healthy, provision. Harmless when already up.

        The API Gateway starts last: the API's Lambda handler it runs needs the provisioned cloud.
        With ``pipeline``, also both feed handlers (simulator → Kafka) and one Spark application
        running bronze, silver and gold continuously.
        """
        self.layout.ensure()
        progress("Checking Java")
        kafka_broker.java_executable()  # fail before starting anything, not halfway
        progress("Fetching the Kafka broker's jars (cached after the first run)")
        classpath = self._kafka_classpath()
        progress("Fetching Spark's connector jars (cached after the first run)")
        self.layout.spark_jars()
        if not self.process(AWS_ENDPOINT).is_running() and not self.process(KAFKA).is_running():
            # The AWS endpoint keeps its state (buckets, tables, checkpoints, the schema
            # registry) in memory, so it starts empty; Kafka's log must start empty with it, or
            # bronze would replay records framed by schema versions the new registry never issued.
            kafka_broker.clear_storage(self.layout)
        progress("Starting the AWS endpoint (moto)")
        self.start_aws_endpoint()
        progress("Starting the Kafka broker (KRaft)")
        self.start_kafka(classpath)
        progress("Starting the exchange simulator (Binance and Kraken look-alikes)")
        self.start_exchange_simulator()
        progress("Waiting for every component to answer")
        for component in INFRASTRUCTURE:
            self._wait_healthy(component)
        progress("Provisioning buckets, Glue database, schema registry, topics and Athena")
        self.provision()
        progress("Starting the API Gateway (the API's Lambda in process)")
        self.start_api_gateway()
        self._wait_healthy(API_GATEWAY)
        if pipeline:
            progress("Starting the feed handlers, the Spark pipeline and the freshness check")
            self.start_pipeline()

    def start_pipeline(self) -> None:
        """The feed handlers and the continuous Spark pipeline, as processes of this cloud."""
        environment = self.layout.client_environment()
        commands = {
            FEED_BINANCE: [sys.executable, "-m", "k2.cli", "feed", "--exchange", "binance"],
            FEED_KRAKEN: [sys.executable, "-m", "k2.cli", "feed", "--exchange", "kraken"],
            # Run so that a failed run is counted as EventBridge would count it in AWS.
            PIPELINE: [sys.executable, "-m", "k2.local.job_failure_events", "pipeline"],
            FRESHNESS_CHECK: [sys.executable, "-m", "k2.jobs.freshness", "--every", "60"],
        }
        for component, command in commands.items():
            process = self.process(component)
            if not process.is_running():
                process.start(command, env=environment)

    def start_aws_endpoint(self) -> None:
        process = self.process(AWS_ENDPOINT)
        if process.is_running():
            return
        ensure_port_free(self.layout.settings.aws_port, "AWS endpoint")
        process.start(
            [sys.executable, "-m", "k2.local.aws_endpoint", "--port", str(self.port(AWS_ENDPOINT))],
            # Athena queries run inside it and read the lake through its own Glue and S3.
            env=self.layout.client_environment(),
        )

    def _kafka_classpath(self) -> str:
        jars = java_artifacts.ensure_bundle(java_artifacts.KAFKA_BROKER, self.layout.jars_cache)
        return f"{jars}/*"

    def start_kafka(self, classpath: str | None = None) -> None:
        process = self.process(KAFKA)
        if process.is_running():
            return
        settings = self.layout.settings
        ensure_port_free(settings.kafka_port, "Kafka broker")
        ensure_port_free(settings.kafka_controller_port, "Kafka controller")
        java = kafka_broker.java_executable()
        classpath = classpath or self._kafka_classpath()
        config = kafka_broker.write_config(self.layout)
        kafka_broker.format_storage_once(self.layout, java, classpath, config)
        process.start(kafka_broker.broker_command(self.layout, java, classpath, config))

    def start_exchange_simulator(self) -> None:
        process = self.process(EXCHANGE_SIMULATOR)
        if process.is_running():
            return
        settings = self.layout.settings
        ensure_port_free(settings.binance_sim_port, "simulated Binance")
        ensure_port_free(settings.kraken_sim_port, "simulated Kraken")
        ensure_port_free(settings.simulator_control_port, "exchange simulator control")
        process.start(
            [
                sys.executable,
                "-m",
                "k2.local.exchange_simulator",
                f"--binance-port={settings.binance_sim_port}",
                f"--kraken-port={settings.kraken_sim_port}",
                f"--control-port={settings.simulator_control_port}",
                f"--rate={settings.simulator_rate}",
                f"--seed={settings.simulator_seed}",
                f"--ground-truth={self.layout.simulator_ground_truth}",
                "--log-level=WARNING",
            ]
        )

    def start_api_gateway(self) -> None:
        """The gateway, with a usage-plans file made on first start (one random demo key) and
        never overwritten; the handler gets the same keys in ``K2_API_KEYS`` to check itself."""
        process = self.process(API_GATEWAY)
        if process.is_running():
            return
        layout = self.layout
        ensure_port_free(layout.settings.api_port, "API Gateway")
        create_demo_usage_plans(layout.usage_plans_file)
        keys = load_usage_plans(layout.usage_plans_file).keys
        environment = {
            **layout.client_environment(),
            "K2_API_KEYS": ",".join(key.value for key in keys),
        }
        process.start(
            [
                sys.executable,
                "-m",
                "k2.local.api_gateway",
                f"--port={layout.settings.api_port}",
                f"--handler={layout.api_handler}:handler",
                f"--usage-plans={layout.usage_plans_file}",
                "--stage=local",
            ],
            env=environment,
        )

    def _wait_healthy(self, component: str) -> None:
        process = self.process(component)

        def ready() -> bool:
            if not process.is_running():
                raise LocalCloudError(
                    f"the {component} exited while starting; last log lines "
                    f"({process.log_file}):\n{process.last_log_lines()}"
                )
            return self._probe(component)[0]

        if not wait_until(ready, STARTUP_TIMEOUT_S, interval=0.5):
            raise LocalCloudError(
                f"the {component} did not become healthy within {STARTUP_TIMEOUT_S:.0f}s "
                f"(see {process.log_file})"
            )

    def provision(self) -> dict[str, Any]:
        settings = self.layout.client_settings()
        glue = self.layout.aws_client("glue")
        athena = self.layout.aws_client("athena")
        return {
            "buckets": provisioning.create_buckets(self.layout.aws_client("s3"), settings),
            "glue_database": provisioning.create_glue_database(glue, settings),
            "schema_registry": provisioning.create_schema_registry(glue, settings),
            "athena_work_group": provisioning.create_athena_work_group(athena, settings),
            "named_queries": provisioning.create_named_queries(athena, settings),
            "topics": provisioning.create_topics(settings),
            "monitoring": provisioning.create_monitoring(
                self.layout.aws_client("cloudwatch"), settings
            ),
        }

    # --- status -------------------------------------------------------------------------------

    def status(self) -> list[ComponentStatus]:
        statuses = []
        started = [c for c in PIPELINE_COMPONENTS if self.process(c).pid() is not None]
        for component in (*COMPONENTS, *started):
            pid = self.process(component).pid()
            if pid is None:
                statuses.append(ComponentStatus(component, None, False, "not running"))
                continue
            healthy, detail = self._probe(component)
            statuses.append(ComponentStatus(component, pid, healthy, detail))
        return statuses

    def _probe(self, component: str) -> tuple[bool, str]:
        if component in PIPELINE_COMPONENTS:
            process = self.process(component)
            if process.is_running():
                return True, f"running; log {process.log_file}"
            return False, f"exited; last log lines:\n{process.last_log_lines()}"
        port = self.port(component)
        if not port_is_listening(port):
            return False, f"nothing listening on 127.0.0.1:{port}"
        try:
            if component == AWS_ENDPOINT:
                return True, self._probe_aws()
            if component == KAFKA:
                return True, self._probe_kafka()
            if component == API_GATEWAY:
                return True, self._probe_api_gateway()
            return True, self._probe_simulator()
        except Exception as error:  # a probe reports any failure as unhealthy, with its cause
            return False, f"{type(error).__name__}: {error}".splitlines()[0]

    def _probe_aws(self) -> str:
        buckets = len(self.layout.aws_client("s3").list_buckets().get("Buckets", []))
        return f"{self.layout.aws_endpoint_url}, {buckets} buckets"

    def _probe_kafka(self) -> str:
        bootstrap = self.layout.kafka_bootstrap_servers
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="k2-status", request_timeout_ms=5000
        )
        try:
            topics = [name for name in admin.list_topics() if not name.startswith("__")]
        finally:
            admin.close()
        return f"{bootstrap}, {len(topics)} topics"

    def _probe_simulator(self) -> str:
        url = f"{self.layout.simulator_control_url}/control/stats"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http
            stats = json.load(response)
        ports, trades = stats["ports"], stats["trades"]
        return (
            f"binance :{ports['binance']}, kraken :{ports['kraken']}, "
            f"{trades['binance'] + trades['kraken']} trades made"
        )

    def _probe_api_gateway(self) -> str:
        """That the gateway answers HTTP; GET /health goes through to the API's Lambda, whose
        answer (maybe a 502 while the handler cannot start) is reported, not judged."""
        url = f"{self.layout.api_gateway_url}/health"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback http
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
        return f"{self.layout.api_gateway_url}, GET /health answers {status}"

    # --- down ---------------------------------------------------------------------------------

    def down(self, progress: Progress = lambda _: None) -> list[str]:
        """Stop every component this state dir started; returns the ones that were running."""
        stopped = []
        for component in reversed((*COMPONENTS, *PIPELINE_COMPONENTS)):
            progress(f"Stopping the {component}")
            if self.process(component).stop():
                stopped.append(component)
        return stopped

    def restart(self, component: str) -> None:
        """Stop and start one component (tests use it to prove state survives a broker restart)."""
        self.process(component).stop()
        wait_until(lambda: not port_is_listening(self.port(component)), 30.0)
        {
            AWS_ENDPOINT: self.start_aws_endpoint,
            KAFKA: self.start_kafka,
            EXCHANGE_SIMULATOR: self.start_exchange_simulator,
            API_GATEWAY: self.start_api_gateway,
        }[component]()
        self._wait_healthy(component)
