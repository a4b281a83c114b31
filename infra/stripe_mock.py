"""stripe-mock, Stripe's own mock of its API (Go module github.com/stripe/stripe-mock), built
once from the Go module proxy into the cache, and run as a service for the Stripe adapter's tests.

It answers every API route from Stripe's OpenAPI spec and fixtures; it keeps no state (the same
idempotency key does not return the first object, it is only echoed in the `Idempotency-Key`
response header) and sends no webhooks. `python -m infra.stripe_mock` builds it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from infra.errors import InfraError
from infra.fetch import run_fetch
from infra.service import Port, Service
from livefold.settings import Settings

MODULE = "github.com/stripe/stripe-mock"
VERSION = "v0.203.0"
# Any key of this shape passes stripe-mock's authorization check.
TEST_SECRET_KEY = "sk_test_livefold"


def go_environment(cache_dir: Path) -> dict[str, str]:
    """Go's module and build caches under livefold's cache dir, never the user's; the local
    toolchain only (no toolchain download)."""
    go_dir = (cache_dir / "go").resolve()
    return {
        "GOPATH": str(go_dir),
        "GOMODCACHE": str(go_dir / "mod"),
        "GOCACHE": str(go_dir / "build"),
        "GOBIN": str((cache_dir / "bin").resolve()),
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
    }


def ensure_stripe_mock(settings: Settings) -> Path:
    """The stripe-mock binary, built with `go install` the first time (about 20 s cold)."""
    binary = (settings.cache_dir / "bin" / "stripe-mock").resolve()
    marker = binary.with_name("stripe-mock.version")
    if binary.exists() and marker.exists() and marker.read_text() == VERSION:
        return binary
    if shutil.which(settings.go) is None:
        raise InfraError(
            f"Go not found as '{settings.go}' (needed once to build stripe-mock {VERSION} for "
            "the Stripe payment tests); install Go 1.22+ or set LIVEFOLD_GO"
        )
    binary.parent.mkdir(parents=True, exist_ok=True)
    # Two test runs building at once would write the same files: one builds, the other waits.
    with (binary.parent / ".stripe-mock.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists() and marker.exists() and marker.read_text() == VERSION:
            return binary
        result = subprocess.run(
            [settings.go, "install", f"{MODULE}@{VERSION}"],
            env={**os.environ, **go_environment(settings.cache_dir)},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
        if result.returncode != 0 or not binary.exists():
            lines = (result.stderr or result.stdout).strip().splitlines()
            cause = " / ".join(lines[-3:])[:500] or f"exit code {result.returncode}"
            raise InfraError(
                f"building stripe-mock {VERSION} with '{settings.go} install' failed: {cause}\n"
                "Check access to the Go module proxy (GOPROXY) or set LIVEFOLD_GO / "
                "LIVEFOLD_CACHE_DIR"
            )
        marker.write_text(VERSION)
    return binary


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
