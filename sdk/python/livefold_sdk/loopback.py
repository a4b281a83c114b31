"""A one-shot HTTP server on a loopback port that receives the authorization response: the
redirect a native app or script asks for (RFC 8252, section 7.3). livefold's authorization
server accepts `http://127.0.0.1:<any port>/callback` for its public client."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from livefold_sdk.closing import Closing
from livefold_sdk.errors import OAuthError

PAGE = (
    b"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>livefold</title></head>"
    b"<body><p>Signed in. You can close this window.</p></body></html>"
)


@dataclass(frozen=True)
class AuthorizationResponse:
    code: str | None
    state: str | None
    error: str | None = None
    error_description: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    path: str
    answer: AuthorizationResponse | None
    arrived: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.path:
            self.send_error(404)
            return
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if self.server.answer is None:
            self.server.answer = AuthorizationResponse(
                query.get("code"), query.get("state"), query.get("error"),
                query.get("error_description"),
            )  # fmt: skip
            self.server.arrived.set()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the query holds the authorization code."""


class LoopbackReceiver(Closing):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, path: str = "/callback"):
        self._server = _Server((host, port), _Handler)
        self._server.path = path
        self._server.answer = None
        self._server.arrived = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        bound_host, bound_port = self._server.server_address[:2]
        host_text = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
        shown = f"[{host_text}]" if ":" in host_text else host_text
        self.redirect_uri = f"http://{shown}:{bound_port}{path}"

    def wait(self, timeout: float) -> AuthorizationResponse:
        """The first response that reached the redirect URI, within `timeout` seconds."""
        if not self._server.arrived.wait(timeout):
            raise OAuthError(0, "timeout", f"nobody signed in within {timeout:.0f}s")
        answer = self._server.answer
        assert answer is not None
        return answer

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
