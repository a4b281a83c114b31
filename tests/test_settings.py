"""Settings every process shares: paths children resolve the same way, and a deployment that
is not local refuses the local-only defaults."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.service import service
from infra.service import RunningService, free_port
from livefold.install_secrets import keys_dir
from livefold.payments import TipPayment
from livefold.payments.sandbox import SandboxProvider, payment_intent, webhook_event
from livefold.settings import Settings
from tests.servers import environment_of, log_to
from tests.serving import serving

WEBHOOK = "/api/v1/payments/webhook/sandbox"


def test_a_relative_data_dir_puts_the_gateways_keys_where_the_docs_say(
    stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fields = stack.with_secrets().model_dump(exclude={"data_dir", "gateway_port"})
    relative = Settings(**fields, data_dir=Path("install"), gateway_port=free_port())
    spec = service(relative)
    handle = RunningService(spec, log_to(stack.data_dir / "logs")(spec))
    handle.start()
    handle.stop()
    assert (tmp_path / "install" / "auth" / "signing-key.json").is_file()
    assert not (tmp_path / "install" / "gateway" / "install").exists()


OLD_SANDBOX_SECRET = "whsec_livefold_sandbox_local"  # the constant the repository once held


def sandbox_webhook(secret: str) -> tuple[bytes, dict[str, str]]:
    tip = TipPayment("t1", "s1", "viewer-1", 100_000_000, "EUR", "key-t1")
    provider = SandboxProvider(secret, "http://127.0.0.1")
    event = webhook_event("payment_intent.succeeded", payment_intent(tip, "pi_1", None))
    return provider.signed_webhook(event)


def test_the_sandbox_webhook_secret_is_the_installs_own_and_private(
    stack: Settings, tmp_path: Path
) -> None:
    settings = stack.model_copy(update={"gateway_port": free_port(), "payment_provider": "sandbox"})
    other_install = Settings(**(stack.model_dump() | {"data_dir": tmp_path}))
    secret = settings.secret("payment_sandbox_secret")
    assert secret not in (OLD_SANDBOX_SECRET, other_install.secret("payment_sandbox_secret"))
    stored = keys_dir(settings.data_dir) / "payment_sandbox_secret.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700

    with serving(create_app(settings), settings.host, settings.gateway_port):
        body, headers = sandbox_webhook(OLD_SANDBOX_SECRET)
        forged = httpx.post(settings.gateway_url + WEBHOOK, content=body, headers=headers)
        body, headers = sandbox_webhook(secret)
        signed = httpx.post(settings.gateway_url + WEBHOOK, content=body, headers=headers)
    assert forged.status_code == 400 and forged.json()["error"] == "bad_webhook"
    assert signed.status_code == 200, signed.text


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"LIVEFOLD_PUBLIC_URL": "https://live.example.com"}, "LIVEFOLD_PAYMENT_PROVIDER=stripe"),
        ({"LIVEFOLD_PRODUCTION": "true"}, "LIVEFOLD_PAYMENT_PROVIDER=stripe"),
        ({"LIVEFOLD_PRODUCTION": "true"}, "LIVEFOLD_KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
        (
            {
                "LIVEFOLD_PRODUCTION": "true",
                "LIVEFOLD_S3_ENDPOINT": "s3.example.com",
                "LIVEFOLD_REGISTRY_URL": "https://registry.example.com",
            },
            "LIVEFOLD_S3_SECRET_KEY is unset",
        ),
    ],
)
def test_a_public_deployment_refuses_local_only_settings_by_name(
    stack: Settings, changes: dict[str, str], named: str
) -> None:
    environment = {**environment_of(stack), **changes}
    for program, command in (
        ("gateway", [sys.executable, "-m", "gateway"]),
        ("livefold", [sys.executable, "-m", "livefold", "run"]),
        ("fold worker", [sys.executable, "-m", "agents", "worker"]),
        ("analytics", [sys.executable, "-m", "agents.analytics"]),
        ("registry", [sys.executable, "-m", "registry", "--kafka", stack.kafka_bootstrap]),
        ("media", [sys.executable, "-m", "media"]),
    ):
        result = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=120
        )
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert f"{program}: refusing to start" in output and named in output
        assert "LIVEFOLD_PUBLIC_URL" in output and "Traceback" not in output


def test_a_loopback_public_url_is_a_local_deployment(stack: Settings) -> None:
    for url in ("http://127.0.0.1:8000", "https://livefold.localhost", "http://[::1]:8000"):
        assert Settings(**(stack.model_dump() | {"public_url": url})).refusals() == []
