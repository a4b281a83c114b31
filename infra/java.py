"""A server that runs on a JVM from the Maven jars of infra/<jars>/pom.xml (Kafka, S3Proxy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from infra.jars import classpath, ensure_jars, require_java
from infra.service import Service


@dataclass
class JavaService(Service):
    jars: ClassVar[str]  # the directory under infra/ whose pom.xml lists the server's jars

    java: str = "java"
    mvn: str = "mvn"
    cache_dir: Path = Path(".livefold/cache")
    _lib_dir: Path | None = field(default=None, init=False, repr=False)

    def prepare(self) -> None:
        """Check for Java and fetch the jars; a subclass validates its settings before this."""
        require_java(self.java)
        self._lib_dir = ensure_jars(self.jars, self.cache_dir, self.mvn)

    def java_command(self, jvm_options: list[str], main_class: str, *args: str) -> list[str]:
        assert self._lib_dir is not None, "prepare() first"
        return [self.java, *jvm_options, "-cp", classpath(self._lib_dir), main_class, *args]
