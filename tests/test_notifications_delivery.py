"""Notifications leave livefold (agents/notify.py): a follower's browser gets a Web Push, which a
local push-endpoint receiver (no push service is reachable here) checks as a push service would
(the VAPID signature of this install's key) and decrypts as the browser would (RFC 8291, with
the subscription's private key and auth secret); a webhook receiver gets the notification signed
with its secret, after the first delivery failed and was retried."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from agents import notify
from infra.service import RunningService
from livefold.settings import Settings
from tests.gateways import STREAMER, VIEWER, Running, Tokens, eventually, fold_workers, gateway
from tests.servers import log_to


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Receiver:
    """An HTTP endpoint on a free port that keeps what is POSTed to it; it answers `failures`
    requests with 500 first."""

    def __init__(self, failures: int = 0):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = receiver.failures > 0
                receiver.failures -= 1
                self.send_response(500 if failing else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def running(stack: Settings) -> Iterator[Running]:
    spec = notify.service(stack)
    with fold_workers(stack), gateway(stack, "gateway-notify-delivery") as one:
        handle = RunningService(spec, log_to(stack.data_dir / "logs")(spec))
        handle.start()
        try:
            eventually(spec.is_ready, timeout=60)
            yield one
        finally:
            handle.stop()


def write(one: Running, tokens: Tokens, method: str, path: str, user: str, body: Any = None) -> Any:
    roles = {"streamer"} if user == STREAMER else {"viewer"}
    headers = {**tokens.headers(user, roles), "Prefer": "wait=10"}
    answer = httpx.request(method, f"{one.url}/api/v1{path}", json=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["status"] == "applied", answer.text
    return answer.json()


def test_a_follower_gets_a_web_push_and_a_signed_webhook_when_the_stream_goes_live(
    stack: Settings, running: Running
) -> None:
    tokens = Tokens(stack)
    push_service, hook = Receiver(), Receiver(failures=1)
    browser = ec.generate_private_key(ec.SECP256R1())
    point = browser.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    try:
        stream_id = write(running, tokens, "POST", "/streams", STREAMER,
                          {"title": "Pushed", "category": "Tests"})["stream_id"]  # fmt: skip
        write(running, tokens, "PUT", f"/streams/{stream_id}/follow", VIEWER)
        subscription = {"endpoint": f"{push_service.url}/wpush/v2/abc", "p256dh": b64(point),
                        "auth": b64(auth)}  # fmt: skip
        write(running, tokens, "POST", "/notifications/push-subscriptions", VIEWER, subscription)
        registered = write(running, tokens, "POST", "/notifications/webhooks", VIEWER,
                           {"url": f"{hook.url}/livefold", "kinds": ["stream_live"]})  # fmt: skip
        write(running, tokens, "POST", f"/streams/{stream_id}/live", STREAMER)

        (headers, body), *_ = eventually(lambda: push_service.requests, timeout=60)
        key = httpx.get(f"{running.url}/api/v1/notifications/vapid-public-key").json()
        assert_vapid_signed(headers["authorization"], key["public_key"], push_service.url)
        assert headers["content-encoding"] == "aes128gcm"
        notification = json.loads(
            http_ece.decrypt(body, private_key=browser, auth_secret=auth, version="aes128gcm")
        )
        assert notification["kind"] == "stream_live" and notification["stream_id"] == stream_id
        assert notification["payload"]["title"] == "Pushed"

        tried, delivered = eventually(lambda: len(hook.requests) >= 2 and hook.requests, 60)
        for sent_headers, sent in (tried, delivered):  # the same delivery, tried again
            assert json.loads(sent) == notification
            secret = registered["secret"]
            stamp = sent_headers["livefold-timestamp"]
            mac = hmac.new(secret.encode(), f"{stamp}.".encode() + sent, hashlib.sha256)
            assert hmac.compare_digest(sent_headers["livefold-signature"], f"v1={mac.hexdigest()}")
            assert abs(time.time() - int(stamp)) < 300
            assert sent_headers["livefold-notification-id"] == notification["notification_id"]
        assert len(hook.requests) == 2  # delivered: not sent a third time
    finally:
        push_service.close()
        hook.close()


def assert_vapid_signed(authorization: str, public_key: str, audience: str) -> None:
    """What a push service checks (RFC 8292): a JWT signed with the key the app subscribed
    with, for this push service's origin, not expired."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key
    header, claims, signed = fields["t"].split(".")
    assert json.loads(unb64(claims))["aud"] == audience
    assert json.loads(unb64(claims))["exp"] > time.time()
    raw = unb64(signed)
    signature = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(public_key))
    verifier.verify(signature, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
