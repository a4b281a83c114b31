"""`python -m media`: serve WHIP and WHEP (media/app.py) with uvicorn on the settings' host and
media port; ICE host candidates are only `media_ice_addresses`."""

from __future__ import annotations

import logging
import sys

import uvicorn

from livefold.settings import Settings
from media.aioice_private import use_host_addresses
from media.app import create_app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for chatty in ("aioice", "aiortc", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    settings = Settings()
    if (refused := settings.deployment_error("media")) is not None:
        sys.exit(refused)
    use_host_addresses(settings.media_ice_addresses)
    logging.getLogger("livefold.media").info(
        "media on http://%s:%d (ICE on %s)",
        settings.host,
        settings.media_port,
        ", ".join(settings.media_ice_addresses),
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.media_port,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
