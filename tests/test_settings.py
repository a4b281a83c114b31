"""Settings every process shares: paths children resolve the same way, and a deployment that
is not local refuses the local-only defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.service import service
from infra.service import RunningService, free_port
from livefold.settings import Settings
from tests.servers import log_to


def test_a_relative_data_dir_puts_the_gateways_keys_where_the_docs_say(
    stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fields = stack.model_dump(exclude={"data_dir", "gateway_port"})
    relative = Settings(**fields, data_dir=Path("install"), gateway_port=free_port())
    spec = service(relative)
    handle = RunningService(spec, log_to(stack.data_dir / "logs")(spec))
    handle.start()
    handle.stop()
    assert (tmp_path / "install" / "auth" / "signing-key.json").is_file()
    assert not (tmp_path / "install" / "gateway" / "install").exists()
