"""The TypeScript SDK (sdk/typescript) against a live gateway: `npm ci`, `npm run build` (tsc,
strict) and `npm test` (node's test runner on the compiled tests), with the gateway's URL and
two people, one of them a streamer, handed to the node tests through the environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from livefold_sdk import Livefold

from livefold.settings import Settings
from tests.sdk_support import PASSWORD, LiveGateway, live_gateway, make_streamer

REPO = Path(__file__).resolve().parent.parent
SDK = REPO / "sdk" / "typescript"
NPM_CACHE = REPO / ".livefold" / "cache" / "npm"
# The spec reporter ends with counts such as "(i) pass 10" (an information sign for the "(i)").
COUNT = re.compile(r"^\S+ (pass|fail) (\d+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def live(folded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(folded, tmp_path_factory.mktemp("sdk-typescript")) as running:
        yield running


def npm(*args: str, env: dict[str, str], timeout: float) -> str:
    executable = shutil.which("npm")
    assert executable is not None, "npm is not on PATH: install Node.js 20 or later with npm"
    done = subprocess.run(
        [executable, *args], cwd=SDK, env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{output[-6000:]}"
    return output


def register(url: str, role: str) -> tuple[str, str]:
    username = f"{role}{uuid.uuid4().hex[:10]}"
    with Livefold(url) as anonymous:
        account = anonymous.register(username, PASSWORD, f"The {role}", f"{username}@example.org")
    return str(account["user_id"]), username


def test_the_typescript_sdk_passes_its_tests_against_a_live_gateway(live: LiveGateway) -> None:
    streamer_id, streamer = register(live.url, "streamer")
    viewer_id, viewer = register(live.url, "viewer")
    make_streamer(live, streamer_id)
    env = {
        **os.environ,
        "npm_config_cache": str(NPM_CACHE),
        "npm_config_update_notifier": "false",
        "LIVEFOLD_GATEWAY_URL": live.url,
        "LIVEFOLD_STREAMER_USERNAME": streamer,
        "LIVEFOLD_VIEWER_USERNAME": viewer,
        "LIVEFOLD_VIEWER_ID": viewer_id,
        "LIVEFOLD_PASSWORD": PASSWORD,
        # To sign short-lived tokens as the gateway's authorization server does.
        "LIVEFOLD_SIGNING_KEY": str(live.auth.keys.path),
        "LIVEFOLD_ISSUER": live.settings.gateway_url,
        "LIVEFOLD_AUDIENCE": live.settings.auth_audience,
    }
    npm("ci", "--no-audit", "--no-fund", env=env, timeout=300)
    npm("run", "build", env=env, timeout=300)
    report = npm("test", env=env, timeout=240)
    counts = {name: int(number) for name, number in COUNT.findall(report)}
    assert set(counts) == {"pass", "fail"}, f"no summary from node's test runner:\n{report[-4000:]}"
    assert counts["fail"] == 0, report[-6000:]
    assert counts["pass"] >= 16, report[-6000:]
