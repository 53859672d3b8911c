"""A local API Gateway process of a test's own (``python -m k2.local.api_gateway``)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from k2.local.processes import port_is_listening, wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_gateway_process(
    port: int,
    handler: str,
    usage_plans: Path,
    log: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Started and listening (its output in ``log``); ``handler`` is ``PATH:FUNCTION``."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "k2.local.api_gateway",
                f"--port={port}",
                f"--handler={handler}",
                f"--usage-plans={usage_plans}",
                *extra,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
        )
    assert wait_until(lambda: port_is_listening(port), 30), log.read_text()
    return process


def stop_gateway_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)
