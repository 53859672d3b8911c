"""Where the local cloud keeps its state, logs and downloaded artifacts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

import k2
from k2.aws import aws_client
from k2.local import java_artifacts
from k2.local.errors import LocalCloudError
from k2.local.monitoring_resources import METRICS_LOG_GROUP
from k2.local.usage_plans import DEMO_KEY_NAME, load_usage_plans
from k2.settings import K2Settings

LOCAL_ACCESS_KEY = "k2-local"  # the local endpoint accepts any credentials; these are not secrets
LOCAL_SECRET_KEY = "k2-local"  # noqa: S105


class LocalCloudSettings(BaseSettings):
    """Ports and folders of one local cloud; tests run a second one beside the demo's."""

    model_config = SettingsConfigDict(env_prefix="K2_LOCAL_", extra="ignore", frozen=True)

    state_dir: Path = Path(".k2")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "k2",
        description="Downloaded Java artifacts, shared by every state dir on the machine.",
    )
    aws_port: int = 4566
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    binance_sim_port: int = 8765
    kraken_sim_port: int = 8766
    simulator_control_port: int = 8767
    simulator_rate: float = Field(20.0, gt=0, description="Trades per second per exchange.")
    simulator_seed: int = 0
    api_port: int = 4580


@dataclass(frozen=True)
class LocalCloudLayout:
    settings: LocalCloudSettings

    @property
    def root(self) -> Path:
        return self.settings.state_dir.resolve()

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def jars_cache(self) -> Path:
        return self.settings.cache_dir.expanduser().resolve() / "jars"

    @property
    def simulator_ground_truth(self) -> Path:
        """Every trade the simulated exchanges made since the simulator last started."""
        return self.root / "simulator" / "ground-truth.jsonl"

    @property
    def simulator_control_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.simulator_control_port}"

    def feed_environment(self) -> dict[str, str]:
        """``K2_FEED_*`` variables that point both feed handlers at the exchange simulator."""
        binance = f"127.0.0.1:{self.settings.binance_sim_port}"
        kraken = f"127.0.0.1:{self.settings.kraken_sim_port}"
        return {
            "K2_FEED_BINANCE_WS_URL": f"ws://{binance}",
            "K2_FEED_BINANCE_REST_URL": f"http://{binance}",
            "K2_FEED_KRAKEN_WS_URL": f"ws://{kraken}/v2",
            "K2_FEED_KRAKEN_REST_URL": f"http://{kraken}",
        }

    @property
    def api_gateway_dir(self) -> Path:
        return self.root / "api-gateway"

    @property
    def usage_plans_file(self) -> Path:
        """The gateway's API keys and usage plans (made with one random demo key on first up)."""
        return self.api_gateway_dir / "usage-plans.json"

    @property
    def api_gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def api_handler(self) -> Path:
        """The API's Lambda handler file, beside the k2 package in this checkout."""
        return Path(k2.__file__).resolve().parents[1] / "functions" / "api" / "handler.py"

    @property
    def demo_api_key(self) -> str:
        """The value of the ``local-demo`` API key."""
        if not self.usage_plans_file.exists():
            raise LocalCloudError(
                f"no API keys yet ({self.usage_plans_file} does not exist); `k2 local up` makes one"
            )
        for key in load_usage_plans(self.usage_plans_file).keys:
            if key.name == DEMO_KEY_NAME:
                return key.value
        raise LocalCloudError(f"{self.usage_plans_file} has no key named {DEMO_KEY_NAME!r}")

    def pid_file(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def ensure(self) -> None:
        folders = (self.logs, self.run, self.kafka_dir, self.jars_cache, self.api_gateway_dir)
        for folder in (*folders, self.simulator_ground_truth.parent):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def aws_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.aws_port}"

    @property
    def kafka_bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    def spark_jars(self) -> list[Path]:
        """Spark's connector jars, fetched from Maven Central on first use."""
        return java_artifacts.jar_paths(java_artifacts.SPARK_CONNECTORS, self.jars_cache)

    def client_settings(self) -> K2Settings:
        """K2 settings that point every client at this local cloud."""
        return K2Settings(
            aws_endpoint_url=self.aws_endpoint_url,
            kafka_bootstrap_servers=self.kafka_bootstrap_servers,
            state_dir=self.root,
            spark_jars=",".join(str(jar) for jar in self._cached_spark_jars()),
        )

    def _cached_spark_jars(self) -> list[Path]:
        folder = java_artifacts.bundle_dir(java_artifacts.SPARK_CONNECTORS, self.jars_cache)
        return sorted(folder.glob("*.jar")) if (folder / ".complete").exists() else []

    def client_environment(self) -> dict[str, str]:
        """Environment for boto3, pyiceberg and Spark in processes that talk to this cloud."""
        settings = self.client_settings()
        return {
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_DEFAULT_REGION": settings.region,
            "AWS_REGION": settings.region,
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "K2_AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "K2_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "K2_STATE_DIR": str(self.root),
            "K2_SPARK_JARS": settings.spark_jars,
            "K2_METRICS_LOG_GROUP": METRICS_LOG_GROUP,
            **self.feed_environment(),
        }

    def aws_client(self, service: str) -> Any:
        """A boto3 client for this cloud's endpoint, whatever the process environment says."""
        return aws_client(
            service,
            self.client_settings(),
            aws_access_key_id=LOCAL_ACCESS_KEY,
            aws_secret_access_key=LOCAL_SECRET_KEY,
        )

    def export_client_environment(self) -> None:
        """Point this process (and the JVMs and children it starts) at this cloud."""
        os.environ.update(self.client_environment())
