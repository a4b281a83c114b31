"""`livefold run` / `make stop` as a person uses them: one clear message for each set-up problem,
a table when ready, and nothing left running after a stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.stack import ephemeral_settings
from livefold.settings import Settings
from tests.servers import REPO, environment_of


def start(settings: Settings, **extra_env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "livefold", "run"],
        env={**environment_of(settings), **extra_env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 120) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if marker in line:
            return lines
    raise AssertionError(f"never saw {marker!r}; output:\n" + "\n".join(lines[-40:]))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def server_pids(settings: Settings) -> list[int]:
    return [int(p.read_text()) for p in settings.data_dir.glob("*/*.pid")]


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Settings]:
    settings = ephemeral_settings(tmp_path / "data")
    yield settings
    subprocess.run(
        [sys.executable, "-m", "livefold", "stop"],
        env=environment_of(settings),
        capture_output=True,
        timeout=120,
    )


def test_a_busy_port_is_named_with_its_setting_and_exits_non_zero(private):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", private.kafka_port))
        squatter.listen()
        process = start(private)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"port {private.kafka_port} on 127.0.0.1 is already in use" in output
    assert "LIVEFOLD_KAFKA_PORT" in output
    assert "Traceback" not in output


def test_missing_java_is_one_clear_message(private):
    process = start(private, LIVEFOLD_JAVA="/nonexistent/java")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Java 17+ not found" in output and "LIVEFOLD_JAVA" in output
    assert "Traceback" not in output


def test_a_failed_download_names_the_cause_and_the_setting(tmp_path):
    empty_cache = ephemeral_settings(tmp_path / "data", cache_dir=tmp_path / "cache")
    unreachable = " ".join(
        f"-D{scheme}.proxy{part}"
        for scheme in ("http", "https")
        for part in ("Host=127.0.0.1", "Port=9")
    )
    result = subprocess.run(
        [sys.executable, "-m", "infra.fetch"],
        env={**environment_of(empty_cache), "MAVEN_OPTS": unreachable},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "downloading the kafka jars with Maven failed" in result.stderr
    assert "could not be resolved" in result.stderr
    assert "LIVEFOLD_CACHE_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_prints_the_table_and_make_stop_leaves_nothing_behind(private):
    for attempt in range(2):  # a second run after a stop works too
        process = start(private)
        lines = read_until(process, "Ctrl-C or `make stop` stops everything.")
        table = "\n".join(lines)
        assert "livefold is ready in" in table
        assert f"127.0.0.1:{private.kafka_port}" in table
        assert f"http://127.0.0.1:{private.clickhouse_port}" in table
        assert f"127.0.0.1:{private.s3_port}" in table
        assert f"http://127.0.0.1:{private.registry_port}" in table
        assert "schemas registered" in table
        children = server_pids(private)
        assert len(children) >= 4 and all(alive(pid) for pid in children)

        stop = subprocess.run(
            ["make", "-s", "stop"],
            cwd=REPO,
            env=environment_of(private),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stop.returncode == 0, stop.stderr
        assert process.wait(timeout=60) == 0, f"attempt {attempt}"
        assert not any(alive(pid) for pid in children)
        assert server_pids(private) == []


def test_a_second_run_while_one_is_running_is_refused(private):
    process = start(private)
    try:
        read_until(process, "Ctrl-C or `make stop` stops everything.")
        second = start(private)
        output, _ = second.communicate(timeout=60)
        assert second.returncode != 0
        assert "already running" in output and "make stop" in output
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0


def pid_of(settings: Settings, name: str) -> int:
    return int((settings.data_dir / name / f"{name}.pid").read_text())


def test_a_killed_or_hung_process_is_restarted_and_the_rest_keep_running(private):
    process = start(private, LIVEFOLD_SUPERVISOR_UNHEALTHY_SECONDS="3")
    try:
        read_until(process, "Ctrl-C or `make stop` stops everything.")
        others = {name: pid_of(private, name) for name in ("kafka", "registry", "analytics")}
        worker = pid_of(private, "folds")
        os.killpg(worker, signal.SIGKILL)
        lines = read_until(process, "livefold: folds is back")
        assert "livefold: folds was killed by SIGKILL; restarting it in 1 s" in "\n".join(lines)
        assert pid_of(private, "folds") != worker and alive(pid_of(private, "folds"))

        hung = pid_of(private, "gateway")
        os.kill(hung, signal.SIGSTOP)  # running, but answering nothing
        lines = read_until(process, "livefold: gateway is back")
        assert "livefold: gateway was not live for 3 s; restarting it" in "\n".join(lines)
        assert not alive(hung) and alive(pid_of(private, "gateway"))
        assert {name: pid_of(private, name) for name in others} == others
        assert all(alive(pid) for pid in others.values()) and process.poll() is None
    finally:
        process.terminate()
        process.communicate(timeout=120)  # reading on: a full pipe would block its log lines
        assert process.returncode == 0


def test_a_process_that_keeps_dying_stops_everything_and_is_named(private):
    process = start(private, LIVEFOLD_SUPERVISOR_RESTARTS="1")
    try:
        read_until(process, "Ctrl-C or `make stop` stops everything.")
        children = server_pids(private)
        os.killpg(pid_of(private, "analytics"), signal.SIGKILL)
        read_until(process, "livefold: analytics is back")
        os.killpg(pid_of(private, "analytics"), signal.SIGKILL)
        lines = read_until(process, "stopping everything")
        assert (
            "livefold: analytics was killed by SIGKILL, after 1 restarts within 600 s "
            "(LIVEFOLD_SUPERVISOR_RESTARTS); see its log above; stopping everything"
        ) in lines[-1]
        process.communicate(timeout=120)
        assert process.returncode == 1
        assert not any(alive(pid) for pid in children)
    finally:
        if process.poll() is None:
            process.kill()
