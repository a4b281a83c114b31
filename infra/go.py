"""Go programs livefold runs but does not ship (stripe-mock for the payment tests, Centrifugo as
a benchmark peer), built once with `go install` from the Go module proxy into the cache."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from infra.errors import InfraError
from livefold.settings import Settings


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


def go_install(settings: Settings, module: str, version: str, purpose: str) -> Path:
    """The binary of `module@version` in the cache's bin dir, built the first time; `purpose`
    says in an error what it is needed for."""
    name = module.rstrip("/").split("/")[-1]
    if name.startswith("v") and name[1:].isdigit():  # a major-version suffix: .../centrifugo/v6
        name = module.rstrip("/").split("/")[-2]
    binary = (settings.cache_dir / "bin" / name).resolve()
    marker = binary.with_name(f"{name}.version")
    if binary.exists() and marker.exists() and marker.read_text() == version:
        return binary
    if shutil.which(settings.go) is None:
        raise InfraError(
            f"Go not found as '{settings.go}' (needed once to build {name} {version} for "
            f"{purpose}); install Go 1.22+ or set LIVEFOLD_GO"
        )
    binary.parent.mkdir(parents=True, exist_ok=True)
    # Two runs building at once would write the same files: one builds, the other waits.
    with (binary.parent / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists() and marker.exists() and marker.read_text() == version:
            return binary
        result = subprocess.run(
            [settings.go, "install", f"{module}@{version}"],
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
                f"building {name} {version} with '{settings.go} install' failed: {cause}\n"
                "Check access to the Go module proxy (GOPROXY) or set LIVEFOLD_GO / "
                "LIVEFOLD_CACHE_DIR"
            )
        marker.write_text(version)
    return binary
