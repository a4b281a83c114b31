"""Browser scripts in web/tests/ (playwright-core driving Debian's chromium, `make chromium`),
run from the tests: `run_script` for a script that runs to its end and prints its result as
its last line of JSON, `Browser` for one that stops at `STEP <name> <json>` lines for the test
to act and `answer`. Both write screenshots to docs/screenshots/ (`SHOTS`)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

WEB = Path(__file__).resolve().parent.parent / "web"
SHOTS = WEB.parent / "docs" / "screenshots"


def _command(script: str) -> tuple[list[str], dict[str, str]]:
    node, chromium = shutil.which("node"), shutil.which("chromium")
    assert node is not None, "node is not on PATH: install Node.js 20 or later"
    assert chromium is not None, "chromium is not on PATH: run `make chromium`"
    return [node, script], {**os.environ, "SHOTS": str(SHOTS), "CHROMIUM": chromium}


def _failed(output: str) -> str:
    return f"the browser run failed:\n{output[-6000:]}"


def run_script(script: str, timeout: float, **env: str) -> dict[str, Any]:
    """Runs `script` (relative to web/) to its end; its last line of output, as JSON."""
    command, base_env = _command(script)
    done = subprocess.run(
        command, cwd=WEB, capture_output=True, text=True, timeout=timeout,
        env={**base_env, **env}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, _failed(done.stdout + done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Browser:
    """A browser script (web/tests/panel.mjs unless told) as a subprocess: its `STEP` lines in,
    JSON answers out."""

    def __init__(self, env: dict[str, str], script: str = "tests/panel.mjs"):
        command, base_env = _command(script)
        self.process = subprocess.Popen(
            command, cwd=WEB, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env={**base_env, **env},
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.output.append(line)
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next(self, prefix: str, timeout: float = 150.0) -> dict[str, Any]:
        """The JSON after the next line starting with `prefix` (STEP <name> or DONE)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.process.kill()
                raise AssertionError(_failed("".join(self.output)))
            if line.startswith(prefix):
                found: dict[str, Any] = json.loads(line[len(prefix) :].strip() or "{}")
                return found

    def answer(self, value: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(value) + "\n")
        self.process.stdin.flush()
