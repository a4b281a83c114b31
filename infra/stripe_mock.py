"""stripe-mock, Stripe's own mock of its API (Go module github.com/stripe/stripe-mock), built
once from the Go module proxy into the cache (`infra.go`), and run as a service for the Stripe
adapter's tests.

It answers every API route from Stripe's OpenAPI spec and fixtures; it keeps no state (the same
idempotency key does not return the first object, it is only echoed in the `Idempotency-Key`
response header) and sends no webhooks. `python -m infra.stripe_mock` builds it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from infra.errors import InfraError
from infra.fetch import run_fetch
from infra.go import go_install
from infra.service import Port, Service
from livefold.settings import Settings

MODULE = "github.com/stripe/stripe-mock"
VERSION = "v0.203.0"
# Any key of this shape passes stripe-mock's authorization check.
TEST_SECRET_KEY = "sk_test_livefold"


def ensure_stripe_mock(settings: Settings) -> Path:
    """The stripe-mock binary, built with `go install` the first time (about 20 s cold)."""
    return go_install(settings, MODULE, VERSION, "the Stripe payment tests")


@dataclass
class StripeMockService(Service):
    binary: Path = Path("stripe-mock")
    host: str = "127.0.0.1"
    port: int = 12111
    ready_timeout: float = 30.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        # Without an explicit HTTPS address stripe-mock also listens on :12112 on every
        # interface: give HTTPS a Unix socket in the work dir instead.
        return [
            str(self.binary),
            "-http-addr",
            f"{self.host}:{self.port}",
            "-https-unix",
            str((self.workdir / "https.sock").resolve()),
        ]

    def prepare(self) -> None:
        (self.workdir / "https.sock").unlink(missing_ok=True)

    def is_ready(self) -> bool:
        headers = {"Authorization": f"Bearer {TEST_SECRET_KEY}"}
        return httpx.get(f"{self.url}/v1/balance", headers=headers, timeout=2.0).is_success

    def exit_error(self, returncode: int) -> InfraError:
        return InfraError(
            f"stripe-mock exited with code {returncode} before it was ready: is port "
            f"{self.port} free (LIVEFOLD_STRIPE_MOCK_PORT)? See its log above"
        )

    def urls(self) -> dict[str, str]:
        return {"stripe-mock": self.url}


def service(settings: Settings) -> StripeMockService:
    return StripeMockService(
        name="stripe-mock",
        workdir=settings.data_dir / "stripe-mock",
        ports=[Port(settings.stripe_mock_port, "LIVEFOLD_STRIPE_MOCK_PORT")],
        binary=ensure_stripe_mock(settings),
        host=settings.host,
        port=settings.stripe_mock_port,
    )


def main() -> int:
    return run_fetch(
        lambda: print(f"livefold: stripe-mock {VERSION} at {ensure_stripe_mock(Settings())}")
    )


if __name__ == "__main__":
    sys.exit(main())
