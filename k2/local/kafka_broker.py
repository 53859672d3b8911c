"""The Apache Kafka broker in KRaft mode, run from its Maven Central jars."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path
from string import Template

from k2.local.errors import LocalCloudError
from k2.local.layout import LocalCloudLayout

CONFIG_DIR = Path(__file__).resolve().parents[2] / "localstack" / "kafka"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
MINIMUM_JAVA = 17


def java_executable() -> str:
    """The ``java`` to run the broker with; fails with a clear cause if it is missing or too old."""
    java = shutil.which("java")
    if java is None:
        raise LocalCloudError("Java is not installed; the Kafka broker needs Java 17 or newer")
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    banner = result.stderr or result.stdout
    version = _major_version(banner)
    if version is None or version < MINIMUM_JAVA:
        first_line = banner.splitlines()[0] if banner else "no version banner"
        raise LocalCloudError(f"the Kafka broker needs Java 17 or newer, found: {first_line}")
    return java


def _major_version(banner: str) -> int | None:
    for token in banner.replace('"', " ").split():
        head = token.split(".")[0].split("-")[0]
        if head.isdigit() and "." in token:
            return int(head)
    return None


def write_config(layout: LocalCloudLayout) -> Path:
    settings = layout.settings
    template = Template((CONFIG_DIR / "server.properties.template").read_text())
    config = layout.kafka_dir / "server.properties"
    config.write_text(
        template.substitute(
            port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            data_dir=layout.kafka_data,
        )
    )
    return config


def clear_storage(layout: LocalCloudLayout) -> None:
    """Delete the log directory (topics, data, offsets); the next start formats a new one."""
    shutil.rmtree(layout.kafka_data, ignore_errors=True)


def format_storage_once(layout: LocalCloudLayout, java: str, classpath: str, config: Path) -> None:
    """Format the KRaft log directory once only, so topics and offsets survive restarts."""
    if (layout.kafka_data / "meta.properties").exists():
        return
    cluster_id_file = layout.kafka_dir / "cluster-id"
    if not cluster_id_file.exists():
        cluster_id_file.write_text(
            base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        )
    result = subprocess.run(
        [
            java,
            *_logging_options(),
            "-cp",
            classpath,
            STORAGE_TOOL,
            "format",
            # One argument, so an id starting with "-" (1 in 64 random ids) is not an option.
            f"--cluster-id={cluster_id_file.read_text().strip()}",
            "-c",
            str(config),
            "--ignore-formatted",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        # The tool logs INFO lines first; the reason is at the end.
        reason = " | ".join((result.stdout + result.stderr).strip().splitlines()[-3:])
        raise LocalCloudError(
            f"formatting the Kafka log directory {layout.kafka_data} failed "
            f"(exit {result.returncode}): {reason}"
        )


def _logging_options() -> list[str]:
    return [f"-Dlog4j.configuration=file:{CONFIG_DIR / 'log4j.properties'}"]


def broker_command(layout: LocalCloudLayout, java: str, classpath: str, config: Path) -> list[str]:
    heap = layout.settings.kafka_heap
    return [
        java,
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        *_logging_options(),
        "-cp",
        classpath,
        MAIN_CLASS,
        str(config),
    ]
