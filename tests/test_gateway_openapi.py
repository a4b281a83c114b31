"""schemathesis (a pinned version, from the dev dependencies) fuzzes every operation of a live
gateway's /openapi.json, signed in as an admin and aimed at a real stream: no answer is a 5xx,
hostile variants of the generated requests included (tests/fuzz_hooks.py: lone surrogates, NUL,
JSON nested 5000 deep, quotes and backslashes in OAuth parameters).
The document must describe every route `python -m gateway` serves, the authorization server's
and the payment webhooks' too, and the fuzzer must reach each of them (its HAR report says).
One worker: with two, schemathesis 4.32's generator itself fails now and then (a thread race)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from gateway.auth.admin import change_role
from livefold.settings import Settings
from tests.auth_client import CLIENT_ID, REDIRECT_URI, bearer, register, tokens
from tests.gateways import Running, Tokens, gateway

HOOKS = Path(__file__).with_name("fuzz_hooks.py")
# Beside the writes and reads: the service's, the payments' and the auth server's routes.
ROUTES_BESIDE_THE_API = {
    ("get", "/health"),
    ("get", "/health/ready"),
    ("get", "/health/live"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/api/v1/payments/webhook/{provider}"),
    ("post", "/api/v1/payments/sandbox/pay"),
    ("get", "/.well-known/openid-configuration"),
    ("get", "/oauth/jwks.json"),
    ("get", "/oauth/authorize"),
    ("post", "/oauth/authorize"),
    ("post", "/oauth/token"),
    ("post", "/oauth/revoke"),
    ("get", "/oauth/userinfo"),
    ("post", "/oauth/userinfo"),
    ("post", "/api/v1/accounts"),
    ("get", "/api/v1/accounts/me"),
    ("patch", "/api/v1/accounts/me"),
    ("delete", "/api/v1/accounts/me"),
    ("post", "/api/v1/accounts/{user_id}/roles"),
    ("delete", "/api/v1/accounts/{user_id}/roles/{role}"),
    ("post", "/api/v1/service-clients"),
    ("get", "/api/v1/profiles"),
}


def operations_of(document: dict[str, object]) -> dict[tuple[str, str], dict[str, object]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {(method, path): op for path, ops in paths.items() for method, op in ops.items()}


def requested(har: Path) -> set[tuple[str, str, int]]:
    """(method, URL path, status) of every request the fuzzer sent."""
    return {
        (
            entry["request"]["method"].lower(),
            urlsplit(entry["request"]["url"]).path,
            entry["response"]["status"],
        )
        for entry in json.loads(har.read_text())["log"]["entries"]
    }


def hostile_kinds(har: Path) -> set[str]:
    """Which of tests/fuzz_hooks.py's hostile variants the fuzzer sent."""
    kinds = set()
    for entry in json.loads(har.read_text())["log"]["entries"]:
        request = entry["request"]
        body = (request.get("postData") or {}).get("text") or ""
        if "[" * 100 in body:
            kinds.add("deep")
        if "\\ud800" in body:
            kinds.add("lone surrogate")
        if "\\u0000" in body:
            kinds.add("nul")
        if "/oauth/" in request["url"] and any(
            quoted in request["url"] + body for quoted in ("%22", "%5C", "%5c")
        ):
            kinds.add("oauth quote")
    return kinds


def template_matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


def fuzz(running: Running, token: str, config: Path, har: Path, *options: str) -> str:
    """Run schemathesis against the gateway; its whole output (also kept beside the HAR)."""
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{running.url}/openapi.json",
            "--url",
            running.url,
            "--checks",
            "not_a_server_error",
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            "8",
            "--workers",
            "1",
            "--header",
            f"Authorization:Bearer {token}",
            "--generation-database",
            "none",
            "--seed",
            "20260501",
            "--report",
            "har",
            "--report-har-path",
            str(har),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=420,
    )
    har.with_suffix(".out").write_text(run.stdout)
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts is not None and counts[1] == counts[2], summary
    return run.stdout


def test_fuzzing_every_operation_finds_no_server_error(folded: Settings, tmp_path: Path) -> None:
    unlimited = 1e6
    settings = folded.model_copy(
        update={
            "gateway_user_writes_per_second": unlimited,
            "gateway_ip_writes_per_second": unlimited,
            "auth_ip_sign_ins_per_minute": unlimited,
            "auth_account_sign_ins_per_minute": unlimited,
            "auth_ip_token_requests_per_minute": unlimited,
            "auth_ip_registrations_per_minute": unlimited,
        }
    )
    admin = Tokens(settings).token("fuzzer", {"admin", "streamer"})
    # An admin in the accounts log too, so that granting and revoking roles gets past "only
    # an admin may change roles" into the handlers.
    change_role(settings, "grant", "fuzzer", "admin")
    with gateway(settings, "gateway-fuzzed") as running:
        api = f"{running.url}/api/v1"
        body = {"title": "Fuzzed", "category": "Testing"}
        created = httpx.post(f"{api}/streams", json=body, headers=bearer(admin))
        stream_id = created.json()["stream_id"]
        deadline = time.monotonic() + 15
        while httpx.get(f"{api}/streams/{stream_id}").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        me = httpx.get(f"{api}/accounts/me", headers=bearer(admin)).json()
        assert {"role": "admin", "channel_id": None} in me["roles"], me

        document = httpx.get(f"{running.url}/openapi.json").json()
        operations = operations_of(document)
        assert set(operations) >= ROUTES_BESIDE_THE_API, ROUTES_BESIDE_THE_API - set(operations)
        undocumented = [key for key, op in operations.items() if op.get("x-undocumented")]
        assert undocumented == []  # a route served but not described
        token_form = operations[("post", "/oauth/token")]["requestBody"]
        assert "application/x-www-form-urlencoded" in token_form["content"]  # type: ignore[index]

        config = tmp_path / "schemathesis.toml"
        config.write_text(
            f'hooks = "{HOOKS}"\n'  # hostile variants of each request (tests/fuzz_hooks.py)
            "[parameters]\n"
            f'"path.stream_id" = "{stream_id}"\n'
            '"path.provider" = "sandbox"\n'
            f'"query.client_id" = "{CLIENT_ID}"\n'  # so that sign-in gets to the password
            f'"query.redirect_uri" = "{REDIRECT_URI}"\n'
        )
        fuzz(running, admin, config, tmp_path / "everything.har")

        # A signed-in account of this issuer: its profile and claims, not only "none here".
        with httpx.Client(timeout=30.0) as http:
            account = register(http, running.url)
            issued = tokens(http, running.url, account["username"])["access_token"]
        own = tmp_path / "own-account.har"
        only_own = ("--include-path-regex", "^/(oauth/userinfo|api/v1/accounts/me)$")
        fuzz(running, issued, config, own, *only_own, "--exclude-method", "DELETE")

    hostile = hostile_kinds(tmp_path / "everything.har")
    assert hostile == {"deep", "lone surrogate", "nul", "oauth quote"}, hostile
    unreached = {
        (method, template)
        for method, template in ROUTES_BESIDE_THE_API - {("get", "/openapi.json")}  # its source
        if not any(
            m == method and template_matches(template, path)
            for m, path, _ in requested(tmp_path / "everything.har")
        )
    }
    assert unreached == set()
    answered = {(m, path) for m, path, status in requested(own) if status == 200}
    own_ops = {("get", "/oauth/userinfo"), ("post", "/oauth/userinfo")}
    own_ops |= {("get", "/api/v1/accounts/me"), ("patch", "/api/v1/accounts/me")}
    assert answered >= own_ops
