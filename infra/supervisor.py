"""`livefold run`: start the stack in dependency order, print where everything is, stream the
servers' logs with a prefix, keep every process running, and stop everything cleanly on Ctrl-C,
SIGTERM or `livefold stop`.

Keeping them running. A process that exits, or stays not live for
`supervisor_unhealthy_seconds` (`Service.is_live`: an HTTP probe, or a heartbeat file), is
killed if needed and started again (ready before the watch goes on), after a back-off that
doubles with each recent restart (1 s up to 30 s); the others keep running. Each restart is
logged with its cause. A service restarted `supervisor_restarts` times within
`supervisor_restart_window` seconds, or one that cannot be started again (a backing server whose
port, data or jars are gone), stops everything with a message that names it. Every service is
treated alike, so a new process (the media service) is one more entry in `infra.stack`.

honcho (Procfile) was the first choice, but it starts every process at once; Kafka must answer
before the registry starts, and the registry before the app, so readiness gates each start here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from infra.errors import InfraError
from infra.service import RunningService, Service
from infra.stack import application, infrastructure
from livefold.settings import Settings

_COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93")


PROBE_EVERY = 2.0  # seconds between liveness probes of a service
BACKOFF_FIRST, BACKOFF_MOST = 1.0, 30.0


class _Stopping(Exception):
    pass


@dataclass
class _Watch:
    """What the supervisor knows of one running service."""

    handle: RunningService
    restarts: deque[float] = field(default_factory=deque)  # monotonic times, recent ones
    restart_at: float | None = None  # when a scheduled restart is due
    cause: str = ""  # why it is being restarted
    unlive_since: float | None = None
    probed_at: float = 0.0


def exit_cause(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(self, settings: Settings, out: IO[str] = sys.stdout):
        self.settings = settings
        self.out = out
        self._lock = threading.Lock()
        self._handles: list[RunningService] = []
        self._watches: list[_Watch] = []
        self._stop = threading.Event()
        self._signal: str | None = None  # the signal that asked to stop

    @property
    def pidfile(self) -> Path:
        return self.settings.run_dir / "supervisor.pid"

    def say(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def run(self) -> int:
        refused = self.settings.deployment_error("livefold")
        if refused is not None:
            self.say(refused)
            return 1
        self._claim_pidfile()
        started_at = time.monotonic()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            stack, app = infrastructure(self.settings), application(self.settings)
            services = stack + app
            width = max(len(s.name) for s in services)
            for index, service in enumerate(stack):
                self._start(service, index, width)
            self._provision()
            for index, service in enumerate(app, start=len(stack)):
                self._start(service, index, width)
            self.say(self._table(services, time.monotonic() - started_at))
            return self._watch()
        except InfraError as error:
            self.say(f"livefold: {error}")
            return 1
        except _Stopping:
            return 0
        finally:
            self._shutdown()
            self.pidfile.unlink(missing_ok=True)

    def _start(self, service: Service, index: int, width: int) -> None:
        if self._stop.is_set():
            raise _Stopping
        colour = _COLOURS[index % len(_COLOURS)]
        prefix = (
            f"\033[{colour}m{service.name:<{width}} |\033[0m "
            if self.out.isatty()
            else (f"{service.name:<{width}} | ")
        )

        def log_line(raw: bytes) -> None:
            self.say(prefix + raw.decode("utf-8", "replace").rstrip())

        handle = RunningService(service, log_line, self.settings.host)
        self._handles.append(handle)
        self.say(f"{prefix}starting")
        handle.start()
        self.say(f"{prefix}ready")

    def _provision(self) -> None:
        from streams.provision import provision

        report, schema_ids = provision(self.settings)
        self.say(
            f"livefold: topics ready ({len(report.created)} created, "
            f"{len(report.existing)} existing); {len(schema_ids)} schemas registered"
        )

    def _watch(self) -> int:
        self._watches = [_Watch(handle) for handle in self._handles]
        while not self._stop.wait(0.5):
            for watch in self._watches:
                failure = self._check(watch)
                if failure is not None:
                    self.say(f"livefold: {failure}; stopping everything")
                    return 1
        return 0

    def _check(self, watch: _Watch) -> str | None:
        """Notice a dead or hung service, restart it when due; why to give up, if so."""
        handle, now = watch.handle, time.monotonic()
        name = handle.service.name
        assert handle.process is not None
        if watch.restart_at is None:
            code = handle.process.poll()
            if code is not None:
                return self._schedule(watch, exit_cause(code))
            if now - watch.probed_at >= PROBE_EVERY:
                watch.probed_at = now
                if self._live(handle):
                    watch.unlive_since = None
                elif watch.unlive_since is None:
                    watch.unlive_since = now
                    self.say(f"livefold: {name} is not live; restarting it if it stays so")
                elif now - watch.unlive_since >= self.settings.supervisor_unhealthy_seconds:
                    seconds = self.settings.supervisor_unhealthy_seconds
                    handle.kill()
                    return self._schedule(watch, f"was not live for {seconds:.0f} s")
            return None
        if now < watch.restart_at:
            return None
        watch.restart_at, watch.unlive_since = None, None
        self.say(f"livefold: restarting {name} (it {watch.cause})")
        try:
            handle.start()
        except InfraError as error:
            handle.stop()
            return self._schedule(watch, f"could not be started again ({error})")
        self.say(f"livefold: {name} is back")
        return None

    def _schedule(self, watch: _Watch, cause: str) -> str | None:
        now, name = time.monotonic(), watch.handle.service.name
        window, budget = self.settings.supervisor_restart_window, self.settings.supervisor_restarts
        while watch.restarts and now - watch.restarts[0] > window:
            watch.restarts.popleft()
        if len(watch.restarts) >= budget:
            return (
                f"{name} {cause}, after {len(watch.restarts)} restarts within "
                f"{window:.0f} s (LIVEFOLD_SUPERVISOR_RESTARTS); see its log above"
            )
        delay = min(BACKOFF_FIRST * 2 ** len(watch.restarts), BACKOFF_MOST)
        watch.restarts.append(now)
        watch.restart_at, watch.cause = now + delay, cause
        self.say(
            f"livefold: {name} {cause}; restarting it in {delay:.0f} s "
            f"(restart {len(watch.restarts)} of {budget} allowed within {window:.0f} s)"
        )
        return None

    @staticmethod
    def _live(handle: RunningService) -> bool:
        try:
            return handle.service.is_live()
        except Exception:  # a probe that cannot connect: not live
            return False

    def _on_signal(self, signum: int, _frame: object) -> None:
        # No output here: the signal may interrupt `say` blocked on a full pipe, with its lock
        # held by this very thread.
        if not self._stop.is_set():
            self._signal = signal.Signals(signum).name
        self._stop.set()

    def _shutdown(self) -> None:
        # Ignore further Ctrl-C: a half-finished shutdown is what leaves orphans behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self._signal is not None:
            self.say(f"livefold: {self._signal} received, stopping")
        for handle in reversed(self._handles):
            self.say(f"livefold: stopping {handle.service.name}")
            handle.stop()
        self._handles.clear()

    def _claim_pidfile(self) -> None:
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        running_pid = _live_pid(self.pidfile)
        if running_pid is not None:
            raise SystemExit(
                f"livefold: already running (pid {running_pid}); stop it with `make stop`"
            )
        self.pidfile.write_text(str(os.getpid()))

    def _table(self, services: list[Service], seconds: float) -> str:
        rows = [("service", "address")]
        for service in services:
            rows.extend((service.name, url) for url in service.urls().values())
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name:<{width}}  {url}" for name, url in rows]
        lines.insert(1, "  " + "-" * (width + 2 + max(len(url) for _, url in rows)))
        return (
            f"\nlivefold is ready in {seconds:.1f}s (data in {self.settings.data_dir.resolve()})\n"
            + "\n".join(lines)
            + "\nCtrl-C or `make stop` stops everything.\n"
        )


def _live_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    except PermissionError:
        return None
    return pid


def _service_pidfiles(settings: Settings) -> Iterator[Path]:
    if settings.data_dir.exists():
        yield from settings.data_dir.glob("*/*.pid")


def stop(settings: Settings, timeout: float = 60.0) -> int:
    """Stop a running supervisor, then anything its children left behind (after a SIGKILL)."""
    pidfile = settings.run_dir / "supervisor.pid"
    pid = _live_pid(pidfile)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _live_pid(pidfile) == pid and time.monotonic() < deadline:
            time.sleep(0.2)
    leftovers = 0
    for service_pidfile in _service_pidfiles(settings):
        child = _live_pid(service_pidfile)
        if child is not None:
            leftovers += 1
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child, signal.SIGTERM)
        service_pidfile.unlink(missing_ok=True)
    if pid is None and leftovers == 0:
        print("livefold: nothing was running")
    else:
        print("livefold: stopped")
    return 0
