"""`livefold auth token --user ...`: a token for scripts during local development, signed with
the install's key, that a real gateway accepts; without the key it says what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from livefold.settings import Settings
from tests.gateways import gateway
from tests.servers import REPO, environment_of


def livefold(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livefold", *args],
        cwd=REPO,
        env=environment_of(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_local_token_is_accepted_by_the_gateway(stack: Settings) -> None:
    with gateway(stack, "gateway-local-token") as running:
        made = livefold(running.settings, "auth", "token", "--user", "bot-1", "--role", "streamer")
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        answer = httpx.post(
            f"{running.url}/api/v1/streams",
            json={"title": "From a script", "category": "Bots"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 202, answer.text


def test_without_the_installs_key_it_says_where_the_key_should_be(
    stack: Settings, tmp_path: Path
) -> None:
    elsewhere = stack.model_copy(update={"data_dir": tmp_path})
    made = livefold(elsewhere, "auth", "token", "--user", "bot-1")
    assert made.returncode == 2
    assert "no signing key at" in made.stderr and "Traceback" not in made.stderr
