"""Stopping a component: its leader first, so it can stop its own children in order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from k2.local.processes import ManagedProcess, wait_until

pytestmark = pytest.mark.unit

# A leader that, on SIGTERM, records whether its child still ran, then stops it and exits: what
# the Spark pipeline does with its JVM (queries stopped first, then the JVM).
LEADER = """
import signal, subprocess, sys, time
from pathlib import Path

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
Path(sys.argv[1]).write_text("ready")

def stop(signum, frame):
    time.sleep(0.5)
    Path(sys.argv[1]).write_text("child running" if child.poll() is None else "child gone")
    child.terminate()
    child.wait()
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.1)
"""


def test_stop_lets_the_leader_stop_its_children_then_clears_the_group(tmp_path: Path) -> None:
    report = tmp_path / "report"
    process = ManagedProcess("leader", tmp_path / "leader.pid", tmp_path / "leader.log")
    process.start([sys.executable, "-c", LEADER, str(report)])
    assert wait_until(lambda: report.exists(), 30.0)
    assert process.stop(timeout=30.0)
    assert report.read_text() == "child running"
    assert not process.is_running()


def test_stop_kills_a_leader_that_ignores_sigterm(tmp_path: Path) -> None:
    process = ManagedProcess("stubborn", tmp_path / "stubborn.pid", tmp_path / "stubborn.log")
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    process.start([sys.executable, "-c", ignore])
    assert wait_until(process.is_running, 10.0)
    assert process.stop(timeout=1.0, group_grace=1.0)
    assert not process.is_running()
