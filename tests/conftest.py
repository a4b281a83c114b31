"""Servers for the suite: one real stack per test session, on free ports, in a temporary dir.

Tests that restart a server start their own instance (see `tests/servers.py`) so the shared
stack stays up for everyone else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.folds import source_topics
from infra.service import free_port, running
from infra.stack import infrastructure
from infra.stripe_mock import StripeMockService
from infra.stripe_mock import service as stripe_mock_service
from livefold.settings import Settings
from streams.provision import provision
from tests.analytics_support import wait_caught_up
from tests.gateways import fold_workers
from tests.servers import log_to, settings_on_free_ports


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings_on_free_ports(tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="session")
def stack(settings: Settings, shared_fold_worker: SharedFoldWorker) -> Iterator[Settings]:
    with running(infrastructure(settings), output=log_to(settings.data_dir / "logs")):
        provision(settings)
        try:
            yield settings
        finally:
            shared_fold_worker.stop()  # while Kafka is up: a worker cut off stops slowly


CATCH_UP_SECONDS = 180.0


class SharedFoldWorker:
    """The real fold worker on the stack's fold group, kept running from one module that needs
    folds to the next one (a start and a stop saved each time); stopped before any other
    module, which may fold other groups on the same topics or expect nothing folded meanwhile."""

    def __init__(self) -> None:
        self._running: contextlib.ExitStack | None = None

    def start(self, stack: Settings) -> None:
        """Start the worker if it is stopped, and wait until it has folded what other modules
        appended meanwhile: a module's own waits then cover only its own events."""
        if self._running is None:
            running_worker = contextlib.ExitStack()
            running_worker.enter_context(fold_workers(stack))
            self._running = running_worker
            wait_caught_up(stack, stack.fold_group, CATCH_UP_SECONDS, source_topics())

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@pytest.fixture(scope="session")
def shared_fold_worker() -> Iterator[SharedFoldWorker]:
    worker = SharedFoldWorker()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def folded(stack: Settings, shared_fold_worker: SharedFoldWorker) -> Settings:
    """The stack, with the fold worker folding what this module's gateways append."""
    shared_fold_worker.start(stack)
    return stack


@pytest.fixture(scope="module", autouse=True)
def no_fold_worker_unless_folded(
    request: pytest.FixtureRequest, shared_fold_worker: SharedFoldWorker
) -> None:
    if "folded" not in request.fixturenames:
        shared_fold_worker.stop()


@pytest.fixture(scope="session")
def stripe_mock(settings: Settings) -> Iterator[StripeMockService]:
    """Stripe's API mock on a free port (built once with Go, see infra/stripe_mock.py)."""
    mock = stripe_mock_service(settings.model_copy(update={"stripe_mock_port": free_port()}))
    with running([mock], output=log_to(settings.data_dir / "logs")):
        yield mock


@pytest.fixture
def scratch(tmp_path: Path) -> Settings:
    """Settings for a private instance of a server, for tests that stop and restart it."""
    return settings_on_free_ports(tmp_path)
