"""The media process's worker threads (clips, thumbnails): each runs `work` until `stop`; one
that raises is logged and keeps the error as `failure`."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class BackgroundWorker:
    name = "background worker"

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def work(self) -> None:
        """Runs on the worker's thread until `stopping` is set."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(30)

    def _run(self) -> None:
        try:
            self.work()
        except BaseException as error:
            self.failure = error
            log.exception("the %s stopped", self.name)
