"""A server livefold runs as a child process: what to run, how to tell it is ready, how to stop it.

Each server (Kafka, ClickHouse, S3Proxy, the schema registry, livefold's own processes) is a
`Service`. `RunningService` owns the child: it checks ports before starting, waits for real
readiness with a deadline, notices an early exit, and stops the child (and only it) cleanly.
The supervisor and the test fixtures both drive services through this one path.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from infra.errors import InfraError

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Port:
    number: int
    setting: str  # the environment variable that changes it, for error messages


@dataclass
class Service:
    """Subclasses fill in the command and the readiness probe."""

    name: str
    workdir: Path
    ports: list[Port] = field(default_factory=list)
    ready_timeout: float = 60.0

    def prepare(self) -> None:
        """Fetch, write configuration, format storage. Must be idempotent."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {}

    def is_ready(self) -> bool:
        """One readiness probe: True once the server answers a real request."""
        raise NotImplementedError

    def is_live(self) -> bool:
        """One liveness probe of a server that was ready: False while it runs but does not work
        (a stopped thread, a hung loop); the supervisor restarts a server that stays so.
        Servers without a probe of their own are live while they run."""
        return True

    def after_ready(self) -> None:
        """Set-up that needs the server up (buckets, topics)."""

    def request_stop(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGTERM)

    def exit_error(self, returncode: int) -> InfraError:
        """Why the server exited before it was ready; a subclass may name the setting to change."""
        return InfraError(
            f"{self.name} exited with code {returncode} before it was ready; see its log above"
        )

    def urls(self) -> dict[str, str]:
        return {}


HEARTBEAT_STALE = 10.0  # seconds: a process that rewrites its file every second is hung then


def fresh(heartbeat: Path, within: float = HEARTBEAT_STALE) -> bool:
    """Whether a process's heartbeat file was touched within the last `within` seconds."""
    try:
        return time.time() - heartbeat.stat().st_mtime < within
    except FileNotFoundError:
        return False


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def write_private(path: Path, text: str) -> None:
    """Write `path` readable by this user only (0600), whatever was there before."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports: every probe stays bound until all are chosen, or the kernel
    may hand out one port twice."""
    with contextlib.ExitStack() as probes:
        ports: list[int] = []
        for _ in range(count):
            probe = probes.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.bind((host, 0))
            ports.append(int(probe.getsockname()[1]))
        return ports


def _die_with_parent() -> None:
    # A child must not outlive a supervisor killed with SIGKILL: ask Linux to signal it.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()


class RunningService:
    def __init__(
        self,
        service: Service,
        output: IO[bytes] | Callable[[bytes], None],
        host: str = "127.0.0.1",
    ):
        """`output` is a file for the child's output, or a function called with each line."""
        self.service = service
        self.host = host
        self._output = output
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        for port in self.service.ports:
            if not port_is_free(self.host, port.number):
                raise InfraError(
                    f"{self.service.name}: port {port.number} on {self.host} is already in use; "
                    f"stop what holds it or set {port.setting} to another port"
                )
        self.service.prepare()
        self.service.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.service.command(),
            cwd=self.service.workdir,
            env={**os.environ, **self.service.environment()},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if callable(self._output) else self._output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        if callable(self._output):
            threading.Thread(target=self._pump, args=(self._output,), daemon=True).start()
        self._write_pidfile()
        self.wait_ready()
        self.service.after_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.service.ready_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise self.service.exit_error(self.process.returncode)
            with contextlib.suppress(Exception):
                if self.service.is_ready():
                    return
            time.sleep(0.1)
        self.stop()
        raise InfraError(
            f"{self.service.name} was not ready within {self.service.ready_timeout:.0f}s; "
            "see its log above"
        )

    def stop(self, timeout: float = 20.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            self._remove_pidfile()
            return
        with contextlib.suppress(Exception):
            self.service.request_stop(process)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._remove_pidfile()

    def kill(self) -> None:
        """SIGKILL the child's process group (a hung process ignores SIGTERM), and wait."""
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._remove_pidfile()

    def _pump(self, on_line: Callable[[bytes], None]) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in iter(self.process.stdout.readline, b""):
            on_line(line)

    @property
    def pidfile(self) -> Path:
        return self.service.workdir / f"{self.service.name}.pid"

    def _write_pidfile(self) -> None:
        assert self.process is not None
        self.pidfile.write_text(str(self.process.pid))

    def _remove_pidfile(self) -> None:
        self.pidfile.unlink(missing_ok=True)


@contextlib.contextmanager
def running(
    services: list[Service], output: Callable[[Service], IO[bytes]]
) -> Iterator[list[RunningService]]:
    """Start services in order, each ready before the next; stop them in reverse order."""
    started: list[RunningService] = []
    try:
        for service in services:
            handle = RunningService(service, output(service))
            started.append(handle)
            handle.start()
        yield started
    finally:
        for handle in reversed(started):
            handle.stop()
