"""Java servers come from Maven Central as jars: `mvn dependency:copy-dependencies` resolves a
small pom in infra/<name>/ into a cached lib dir, once."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from infra.errors import InfraError

INFRA_DIR = Path(__file__).resolve().parent
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def require_java(java: str) -> None:
    if shutil.which(java) is None:
        raise InfraError(f"Java 17+ not found as '{java}'; install a JDK or set LIVEFOLD_JAVA")


def ensure_jars(name: str, cache_dir: Path, mvn: str) -> Path:
    """Return the lib dir holding every runtime jar of infra/<name>/pom.xml, fetching if needed."""
    pom = INFRA_DIR / name / "pom.xml"
    lib_dir = (cache_dir / f"{name}-lib").resolve()
    marker = lib_dir / ".complete"
    if marker.exists() and marker.read_text() == pom.read_text():
        return lib_dir
    if shutil.which(mvn) is None:
        raise InfraError(
            f"Maven not found as '{mvn}' (needed once to fetch {name} jars); "
            "install Maven or set LIVEFOLD_MVN"
        )
    shutil.rmtree(lib_dir, ignore_errors=True)
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            f"-Dmaven.repo.local={(cache_dir / 'm2').resolve()}",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib_dir}",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
        errors = [
            line.removeprefix("[ERROR]").strip()
            for line in output.splitlines()
            if line.startswith("[ERROR]") and len(line) > len("[ERROR] ")
        ]
        cause = (errors[0] if errors else f"exit code {result.returncode}")[:400]
        raise InfraError(
            f"downloading the {name} jars with Maven failed: {cause}\n"
            "Check network access to the Maven repository (proxies go in ~/.m2/settings.xml "
            "or MAVEN_OPTS), or set LIVEFOLD_MVN / LIVEFOLD_CACHE_DIR"
        )
    marker.write_text(pom.read_text())
    return lib_dir


def classpath(lib_dir: Path) -> str:
    return f"{lib_dir}/*"
