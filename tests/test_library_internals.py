"""Library internals live in one module per library (agents/faust_private.py,
agents/aiokafka_private.py, gateway/uvicorn_private.py), pinned, and checked here against the
installed library: a release that renames or rewrites something they rely on fails a test that
names it, instead of silently moving committed offsets, breaking `/ws` or corrupting forwarded
video (media/aiortc_private.py, media/aioice_private.py)."""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.metadata
import inspect
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PRIVATE_MODULES = {
    "faust": "agents.faust_private",
    "mode": "agents.faust_private",
    "aiokafka": "agents.aiokafka_private",
    "uvicorn": "gateway.uvicorn_private",
    "aiortc": "media.aiortc_private",
    "aioice": "media.aioice_private",
    "re2": "livefold.moderation.re2_private",
}
PINNED = (
    "faust-streaming",
    "mode-streaming",
    "aiokafka",
    "uvicorn",
    "aiortc",
    "aioice",
    "google-re2",
)
# What code outside the private modules may import from those libraries: their public API.
PUBLIC_IMPORTS = {
    "faust",
    "faust.types",
    "faust.serializers",
    "uvicorn",
    "aiortc",
    "aiortc.exceptions",  # documented: the errors RTCPeerConnection raises
    "aiortc.mediastreams",  # documented: MediaStreamTrack and MediaStreamError
    "re2",  # compile, Options, error: its documented API
}
# Underscore names that are documented API, not internals.
DOCUMENTED = {
    "_PARTITION_EOF": "confluent_kafka.KafkaError's documented code for the end of a partition",
    "_NO_OFFSET": "confluent_kafka.KafkaError's documented code for no committed offset",
    "_exit": "os._exit, documented",
    "_SubParsersAction": "argparse's type of add_subparsers(), the only way to annotate it",
}
# Underscore methods a library documents as the ones to override.
DOCUMENTED_OVERRIDES = {
    "_dumps": "Faust's documented way to write a codec (faust.serializers.codecs.Codec)",
    "_loads": "Faust's documented way to write a codec (faust.serializers.codecs.Codec)",
    "_abc_impl": "set on every class by ABCMeta, not an override",
}
SOURCE_ROOTS = [
    "agents",
    "gateway",
    "streams",
    "livefold",
    "registry",
    "infra",
    "media",
    "bench",
]


def private_module(name: str) -> ModuleType:
    return importlib.import_module(name)


def relied_on() -> list[tuple[str, type, str]]:
    return [
        (module, owner, name)
        for module in sorted(set(PRIVATE_MODULES.values()))
        for owner, names in private_module(module).RELIES_ON.items()
        for name in names
    ]


def pinned_sources() -> list[tuple[str, str, str]]:
    return [
        (module, path, digest)
        for module in sorted(set(PRIVATE_MODULES.values()))
        for path, digest in private_module(module).PINNED_SOURCE.items()
    ]


def has(owner: type, name: str) -> bool:
    """Whether the library class has `name`: as a class attribute, an annotated attribute, or an
    attribute its own code assigns on `self`."""
    if hasattr(owner, name):
        return True
    for cls in owner.__mro__:
        if name in getattr(cls, "__annotations__", {}):
            return True
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        if re.search(rf"\bself\.{re.escape(name)}\s*(:[^=]*)?=", source):
            return True
    return False


def resolve(path: str) -> Any:
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
            break
        except ImportError:
            continue
    for part in parts[split:]:
        found = getattr(found, part)
    return found


@pytest.mark.parametrize(("module", "owner", "name"), relied_on(), ids=lambda v: str(v))
def test_every_private_name_a_module_relies_on_exists_in_the_installed_library(
    module: str, owner: type, name: str
) -> None:
    assert has(owner, name), (
        f"{owner.__module__}.{owner.__qualname__}.{name}, which {module} relies on, is gone from "
        "the installed version: read the library's new code and adapt that module"
    )


@pytest.mark.parametrize(("module", "path", "digest"), pinned_sources(), ids=lambda v: str(v))
def test_library_code_a_module_repeats_or_replaces_is_unchanged(
    module: str, path: str, digest: str
) -> None:
    found = hashlib.sha256(inspect.getsource(resolve(path)).encode()).hexdigest()
    assert found == digest, (
        f"{path} changed in the installed version ({found}); {module} repeats or replaces its "
        "logic: read the new code, adapt the module, then update its digest"
    )


def test_the_libraries_whose_internals_are_used_are_pinned_exactly_as_installed() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(
        d.split("==", 1)
        for d in (d.split(";")[0].split("#")[0].strip() for d in dependencies)
        if "==" in d
    )
    for package in PINNED:
        pinned = pins.get(package) or pins.get(f"{package}[")
        assert pinned is not None, f"{package} is not pinned exactly (==) in pyproject.toml"
        assert importlib.metadata.version(package) == pinned, f"{package} installed is not {pinned}"


def project_sources() -> list[Path]:
    return sorted(path for root in SOURCE_ROOTS for path in (REPO / root).rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def library_of(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in PRIVATE_MODULES else None


def test_only_the_private_modules_import_the_libraries_internals() -> None:
    strays = []
    for path in project_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            imported = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for module in imported:
                library = library_of(module)
                if library is None or module in PUBLIC_IMPORTS:
                    continue
                if module_name(path) != PRIVATE_MODULES[library]:
                    strays.append(f"{path.relative_to(REPO)}:{node.lineno} imports {module}")
    assert not strays, "library internals imported outside their private module: " + "; ".join(
        strays
    )


def test_every_private_name_used_anywhere_is_listed_by_its_libraries_private_module() -> None:
    """An underscore attribute the project uses but never defines belongs to a library: it must
    be used in that library's private module and listed in its RELIES_ON."""
    defined: set[str] = set()
    used: dict[str, set[str]] = {}
    for path in project_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                defined.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Attribute):
                used.setdefault(node.target.attr, set()).add(module_name(path))
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Load)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                used.setdefault(node.attr, set()).add(module_name(path))
    listed = {(module, name) for module, _, name in relied_on()}
    strays = [
        f"{name} in {module}"
        for name, modules in sorted(used.items())
        if name.startswith("_") and name not in DOCUMENTED
        for module in sorted(modules)
        if (name not in defined or (module, name) in listed) and (module, name) not in listed
    ]
    assert not strays, "library private names used outside a private module, or not listed: " + (
        "; ".join(strays)
    )


def test_methods_overriding_a_libraries_private_method_live_in_its_private_module() -> None:
    strays = []
    for path in project_sources():
        source = path.read_text()
        if not any(f"import {lib}" in source or f"from {lib}" in source for lib in PRIVATE_MODULES):
            continue
        module = importlib.import_module(module_name(path))
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            bases = [b for b in cls.__mro__[1:] if library_of(b.__module__) is not None]
            for name in vars(cls):
                if not name.startswith("_") or name.startswith("__"):
                    continue
                if name in DOCUMENTED_OVERRIDES:
                    continue
                base = next((b for b in bases if name in vars(b)), None)
                if base is None:
                    continue
                home = PRIVATE_MODULES[library_of(base.__module__) or ""]
                listed = {(o, n) for _, o, n in relied_on()}
                if module.__name__ != home or not any(
                    n == name and issubclass(base, o) for o, n in listed
                ):
                    strays.append(f"{cls.__qualname__}.{name} overrides {base.__module__}")
    assert not strays, "private overrides outside their module or not listed: " + "; ".join(strays)


def test_the_fan_out_clock_reads_as_aiortcs() -> None:
    """`aiortc_private.ntp_time` stands in for `aiortc.clock.current_ntp_time` in the fan-out
    processes: the same 64-bit NTP time, read between two of aiortc's."""
    from aiortc import clock

    from media import aiortc_private

    for _ in range(100):
        before = clock.current_ntp_time()
        ours = aiortc_private.ntp_time()
        after = clock.current_ntp_time()
        assert before <= ours <= after + 2**32 // 1_000_000  # within aiortc's microsecond step
