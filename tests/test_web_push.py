"""Web Push in the viewer app, in a real browser (web/tests/push.mjs drives Debian's chromium)
against a gateway serving the app, the fold worker and the notification delivery agent.

A signed-in viewer asks the app to notify them on this device: the app asks the browser to
subscribe with the gateway's VAPID key. Headless chromium has no push service (Debian's build
has no Google Cloud Messaging, and there is no network), so the browser refuses and gives no
endpoint: the test checks the key the app used and that the app says it cannot. The rest is as
far as it can be real: a subscription of the same user with a stand-in key pair at a local
endpoint, the stream going live, the agent's Web Push arriving there VAPID-signed with the
gateway's key and decrypted as a browser would, and the decrypted message handed to the app's
own service worker as the browser hands it (DevTools' ServiceWorker.deliverPushMessage): the
worker shows "<title> is live", tagged with the notification's id, opening the stream."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import http_ece
import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agents import notify
from gateway.web_app import BUILD
from infra.service import RunningService
from livefold.settings import Settings
from streams.consumer import TopicFollower
from tests.browsers import SHOTS, Browser
from tests.gateways import eventually
from tests.sdk_support import PASSWORD, LiveGateway, live_gateway, make_streamer
from tests.servers import log_to
from tests.test_notifications_delivery import Receiver, assert_vapid_signed, b64
from tests.test_web_app import known, register, signed_in

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def live(folded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    assert (BUILD / "index.html").is_file(), f"the web app is not built in {BUILD}: run `make web`"
    with live_gateway(folded, tmp_path_factory.mktemp("web-push")) as running:
        spec = notify.service(running.settings)  # the gateway's data dir: its VAPID key
        delivered_up_to_now(folded)
        handle = RunningService(spec, log_to(folded.data_dir / "logs")(spec))
        handle.start()
        try:
            eventually(spec.is_ready, timeout=60)
            yield running
        finally:
            handle.stop()


def delivered_up_to_now(settings: Settings) -> None:
    """The notify agent starts as on a stack of its own: what earlier tests' notify agents left
    undelivered on the shared stack (to their receivers, long gone) is marked delivered, so this
    test's push does not queue behind it."""
    follower = TopicFollower(settings.kafka_config(), [notify.NOTIFIED], None, "test-ends")
    try:
        follower.start(30)
        ends = follower.end_offsets(30)
    finally:
        follower.stop()
    group = Consumer({**settings.kafka_config(), "group.id": notify.GROUP})
    try:
        group.commit(
            offsets=[TopicPartition(t, p, end) for (t, p), end in ends.items()], asynchronous=False
        )
    finally:
        group.close()


def test_a_viewer_asks_for_web_push_and_the_service_worker_shows_the_stream_going_live(
    live: LiveGateway,
) -> None:
    streamer_id, streamer_name = register(live.url, "streamer", "Nia Nightrun")
    _, viewer_name = register(live.url, "viewer", "Pia")
    make_streamer(live, streamer_id)
    push_service = Receiver()
    device = ec.generate_private_key(ec.SECP256R1())  # what the browser would have made
    point = device.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    with signed_in(live, streamer_name) as streamer, signed_in(live, viewer_name) as viewer:
        stream_id = str(streamer.create_stream("Night run, no deaths", "Games")["stream_id"])
        eventually(lambda: known(streamer, stream_id))
        viewer.follow(stream_id)
        browser = Browser(
            {"APP_URL": live.url, "STREAM_ID": stream_id, "USERNAME": viewer_name,
             "PASSWORD": PASSWORD},
            script="tests/push.mjs",
        )  # fmt: skip
        try:
            asked = browser.next("STEP asked")
            key = httpx.get(f"{live.url}/api/v1/notifications/vapid-public-key").json()
            assert asked["served_key"] == key["public_key"]
            assert asked["asked"]["key"] == key["public_key"]  # the app subscribed with it
            assert "Registration failed" in asked["asked"]["refused"], asked  # no push service

            endpoint = f"{push_service.url}/wpush/v2/{viewer_name}"
            viewer.register_push_subscription(endpoint, b64(point), b64(auth))
            streamer.go_live(stream_id)
            (headers, body), *_ = eventually(lambda: push_service.requests, timeout=60)
            assert_vapid_signed(headers["authorization"], key["public_key"], push_service.url)
            message = http_ece.decrypt(body, private_key=device, auth_secret=auth,
                                       version="aes128gcm")  # fmt: skip
            notification = json.loads(message)
            assert (notification["kind"], notification["stream_id"]) == ("stream_live", stream_id)
            browser.answer({"push": message.decode()})
            done = browser.next("DONE")
        finally:
            push_service.close()
            browser.process.kill()
    assert done["shown"] == [
        {"title": "Night run, no deaths is live", "tag": notification["notification_id"],
         "url": f"/watch/{stream_id}"},
    ]  # fmt: skip
    assert (SHOTS / "notifications-desktop.png").stat().st_size > 10_000
