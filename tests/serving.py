"""An ASGI app served by uvicorn on a real port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


@contextlib.contextmanager
def serving(app: ASGIApp, host: str, port: int, timeout: float = 60.0) -> Iterator[str]:
    """Serve `app` (its lifespan included) until the block ends; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, lifespan="on", log_level="warning")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the app on {host}:{port} stopped before it started")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app on {host}:{port} did not start in {timeout:.0f}s")
            time.sleep(0.05)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
