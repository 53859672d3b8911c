"""Child processes of the local cloud: each in its own process group, remembered by a pid file.

A process group per component is what lets ``k2 local down`` stop a component and everything it
spawned (a JVM's helpers, werkzeug's reloader) without touching anything it did not start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from k2.local.errors import LocalCloudError


@dataclass(frozen=True)
class ManagedProcess:
    """One long-running component: how to start it and where its pid and log live."""

    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        """The pid of the running component, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not _process_group_alive(pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,  # its own process group, so `down` can stop all of it
            )
        self.pid_file.write_text(str(process.pid))
        return process.pid

    def stop(self, *, timeout: float = 30.0, group_grace: float = 10.0) -> bool:
        """Stop the component: TERM to its leader, and once the leader is gone (or after
        ``timeout``) TERM to what is left of its group, then KILL. True if it ran.

        The leader first, because it may stop its children in order: the Spark pipeline stops
        its streaming queries between micro-batches before its JVM goes; a TERM to the whole
        group at once would take the JVM down under queries still committing.
        """
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not _alive(pid), timeout)
        _signal_group(pid, signal.SIGTERM)
        if not wait_until(lambda: not _process_group_alive(pid), group_grace):
            _signal_group(pid, signal.SIGKILL)
            wait_until(lambda: not _process_group_alive(pid), 10.0)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if this process happens to be its parent
        self.pid_file.unlink(missing_ok=True)
        return True

    def last_log_lines(self, count: int = 5) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-count:])


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still answers signal 0; treat an exited leader as gone. (A leader gone
    # altogether, with members left, counts as alive: they still run.)
    try:
        with Path(f"/proc/{pgid}/stat").open() as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not reaped, does not)."""
    try:
        with Path(f"/proc/{pid}/stat").open() as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def port_is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def ensure_port_free(port: int, component: str) -> None:
    if port_is_listening(port):
        raise LocalCloudError(
            f"port {port} on 127.0.0.1 is already in use, so the {component} cannot start "
            f"(stop whatever listens there, or set K2_LOCAL_*_PORT)"
        )
