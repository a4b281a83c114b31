"""Notifications leave livefold (agents/notify.py): a follower's browser gets a Web Push, which a
local push-endpoint receiver (no push service is reachable here) checks as a push service would
(the VAPID signature of this install's key) and decrypts as the browser would (RFC 8291, with
the subscription's private key and auth secret); a webhook receiver gets the notification signed
with its secret, after the first delivery failed and was retried. The kinds no request causes
directly go the same way: a scheduled stream starting soon (the fold worker's timer decides it)
reaches its follower's webhook, a tip paid with a sandbox test card its streamer's."""

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
from tests.gateways import STREAMER, VIEWER, Running, Tokens, eventually
from tests.servers import log_to
from tests.test_payments_refunds import PAY, VISA, own_gateway


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Receiver:
    """An HTTP endpoint on a free port that keeps what is POSTed to it; it answers `failures`
    requests with 500 first, and none before `answers` is set."""

    def __init__(self, failures: int = 0, answers: threading.Event | None = None):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.failures = failures
        self.answers = answers
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.answers is not None:
                    receiver.answers.wait()
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
        if self.answers is not None:
            self.answers.set()
        self.server.shutdown()


@pytest.fixture(scope="module")
def running(folded: Settings) -> Iterator[Running]:
    spec = notify.service(folded)
    # The sandbox's payment webhooks come back to this gateway, so paid tips are captured.
    with own_gateway(folded, "gateway-notify-delivery") as one:
        handle = RunningService(spec, log_to(folded.data_dir / "logs")(spec))
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
            assert signed_by(registered["secret"], sent_headers, sent)
            assert abs(time.time() - int(sent_headers["livefold-timestamp"])) < 300
            assert sent_headers["livefold-notification-id"] == notification["notification_id"]
        assert len(hook.requests) == 2  # delivered: not sent a third time
    finally:
        push_service.close()
        hook.close()


def signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    stamp = headers["livefold-timestamp"]
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(headers["livefold-signature"], f"v1={mac.hexdigest()}")


def test_a_scheduled_stream_starting_soon_and_a_paid_tip_reach_their_webhooks(
    stack: Settings, running: Running
) -> None:
    tokens = Tokens(stack)
    follower = "viewer-ivo"
    followers_hook, streamers_hook = Receiver(), Receiver()
    try:
        soon = int((time.time() + 10 * 60) * 1000)  # within the 15 minutes of "starting soon"
        stream_id = write(running, tokens, "POST", "/streams", STREAMER,
                          {"title": "Tomorrow's run, today", "category": "Tests",
                           "scheduled_start": soon})["stream_id"]  # fmt: skip
        write(running, tokens, "PUT", f"/streams/{stream_id}/follow", follower)
        theirs = write(running, tokens, "POST", "/notifications/webhooks", follower,
                       {"url": f"{followers_hook.url}/soon",
                        "kinds": ["stream_starting_soon"]})  # fmt: skip
        mine = write(running, tokens, "POST", "/notifications/webhooks", STREAMER,
                     {"url": f"{streamers_hook.url}/tips", "kinds": ["tip_received"]})  # fmt: skip

        tip = httpx.post(
            f"{running.url}/api/v1/streams/{stream_id}/tips",
            json={"amount_minor": 700, "currency": "EUR", "message": "see you soon"},
            headers=tokens.headers(follower),
        )
        assert tip.status_code == 202, tip.text
        card = {"client_secret": tip.json()["payment"]["client_secret"], "card_number": VISA}
        paid = httpx.post(f"{running.url}{PAY}", json=card, timeout=30)
        assert paid.status_code == 200 and paid.json()["status"] == "succeeded", paid.text

        (tip_headers, tip_body), *_ = eventually(lambda: streamers_hook.requests, timeout=60)
        told = json.loads(tip_body)
        assert told["kind"] == "tip_received" and told["stream_id"] == stream_id
        assert (told["audience"], told["recipient_id"]) == ("user", STREAMER)
        assert told["payload"] == {"tip_id": tip.json()["tip_id"], "from": follower,
                                   "amount_minor": "700", "currency": "EUR"}  # fmt: skip
        assert signed_by(mine["secret"], tip_headers, tip_body)

        # The fold worker looks for streams starting soon every 30 s.
        (soon_headers, soon_body), *_ = eventually(lambda: followers_hook.requests, timeout=90)
        told = json.loads(soon_body)
        assert told["kind"] == "stream_starting_soon" and told["stream_id"] == stream_id
        assert told["payload"] == {"title": "Tomorrow's run, today", "scheduled_start": str(soon)}
        assert signed_by(theirs["secret"], soon_headers, soon_body)
        assert soon_headers["livefold-notification-id"] == told["notification_id"]
    finally:
        followers_hook.close()
        streamers_hook.close()


def test_a_webhook_that_hangs_delays_no_one_elses_notifications(
    stack: Settings, running: Running
) -> None:
    """The first stream's follower has a webhook that never answers: the agent waits for it
    (10 s per attempt, ATTEMPTS tries with backoff) while the second stream's follower still
    gets theirs. One destination at a time, the second would wait for every attempt."""
    tokens = Tokens(stack)
    hanging, prompt = Receiver(answers=threading.Event()), Receiver()
    try:
        streams = []
        for follower, receiver in (("viewer-hanging", hanging), ("viewer-prompt", prompt)):
            created = {"title": f"For {follower}", "category": "Tests"}
            stream_id = write(running, tokens, "POST", "/streams", STREAMER, created)["stream_id"]
            write(running, tokens, "PUT", f"/streams/{stream_id}/follow", follower)
            write(running, tokens, "POST", "/notifications/webhooks", follower,
                  {"url": f"{receiver.url}/hook", "kinds": ["stream_live"]})  # fmt: skip
            streams.append(stream_id)
        write(running, tokens, "POST", f"/streams/{streams[0]}/live", STREAMER)
        eventually(lambda: hanging.requests, timeout=60)  # its delivery has begun
        write(running, tokens, "POST", f"/streams/{streams[1]}/live", STREAMER)

        (_, body), *_ = eventually(lambda: prompt.requests, timeout=45)
        assert json.loads(body)["stream_id"] == streams[1]
        assert len(hanging.requests) < notify.ATTEMPTS  # the hanging one not given up yet
    finally:
        hanging.close()
        prompt.close()


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
