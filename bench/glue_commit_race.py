"""Concurrent Iceberg commits against the patched local endpoint and against stock moto.

    .venv/bin/python -m bench.glue_commit_race [--writers 2] [--commits 25]

Prints rows expected / landed, snapshots and retries for both endpoints, run one after the other
in this process, so the contrast is measured on the same machine at the same time.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from k2.aws import aws_client
from k2.local.commit_race import run_race
from k2.local.layout import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from k2.local.processes import port_is_listening, wait_until
from k2.local.provisioning import create_buckets, create_glue_database
from k2.settings import K2Settings

ENDPOINTS = {
    "k2 local endpoint (VersionId honoured)": [sys.executable, "-m", "k2.local.aws_endpoint"],
    "stock moto server": [sys.executable, "-m", "moto.server", "--host", "127.0.0.1"],
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--commits", type=int, default=25)
    args = parser.parse_args()
    os.environ |= {
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    print(f"{args.writers} writers x {args.commits} commits each, 5 rows per commit")
    for label, command in ENDPOINTS.items():
        port = _free_port()
        server = subprocess.Popen(
            [*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_until(partial(port_is_listening, port), 30)
            os.environ["K2_AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
            settings = K2Settings()
            create_buckets(aws_client("s3", settings), settings)
            create_glue_database(aws_client("glue", settings), settings)
            with tempfile.TemporaryDirectory() as workdir:
                result = run_race(
                    settings,
                    f"{settings.glue_database}.race",
                    Path(workdir),
                    writers=args.writers,
                    commits=args.commits,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
        lost = result.rows_expected - result.distinct_rows_landed
        print(
            f"{label:40s} rows expected {result.rows_expected:5d}  landed {result.rows_landed:5d}"
            f"  lost {lost:5d}  snapshots {result.snapshots:3d}  retries {result.retries:3d}"
            f"  failed writers {len(result.writer_errors)}"
        )
        for error in result.writer_errors:
            print(f"    writer error: {error[:160]}")


if __name__ == "__main__":
    main()
