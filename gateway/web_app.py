"""The web app (web/, built by `npm run build` into web/dist) served from the gateway's own
origin, so its OAuth redirect (`<gateway_url>/auth/callback`), REST and /ws need no CORS.
Mounted last, only when the build exists: every API route wins over it. A path that names no
file and looks like a page (no extension) gets index.html, the single-page
app's router then shows it. API paths never reach it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

BUILD = Path(__file__).resolve().parent.parent / "web" / "dist"
NOT_PAGES = ("api/", "ws", "oauth/", ".well-known/")


class SinglePageFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as missing:
            if missing.status_code != 404 or not is_page(path):
                raise
            return await super().get_response("index.html", scope)


class WebMount(Mount):
    """Matches no API path, so an unknown or wrong-method API call keeps the router's answer."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["path"].lstrip("/").startswith(NOT_PAGES):
            return Match.NONE, {}
        return super().matches(scope)


def is_page(path: str) -> bool:
    return not path.startswith(NOT_PAGES) and PurePosixPath(path).suffix == ""


def routes(build: Path = BUILD) -> list[BaseRoute]:
    if not (build / "index.html").is_file():
        return []
    return [WebMount("/", app=SinglePageFiles(directory=build, html=True), name="web")]
