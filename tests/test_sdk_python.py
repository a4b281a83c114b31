"""The Python SDK against a live gateway (Kafka, the registry, the real folds): people sign in
with PKCE, a streamer creates a stream, a viewer's subscription sees chat and poll tallies, a
cut or silent connection comes back by itself and resumes with what it missed, a write whose
answer is lost is retried into one event, refusals carry the gateway's field and reason, and
a back-end client reads the same events from Kafka with the registry. Writes over the socket
are acked, resent after a lost answer into one event, and a late vote comes back rejected. A
subscription signs its socket in again before each token expires, from a token provider or a
session, and keeps its socket."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pytest
from livefold_sdk import (
    AsyncLivefold,
    Batch,
    Forbidden,
    Held,
    InvalidRequest,
    Livefold,
    NotFound,
    Notification,
    OAuth,
    OAuthError,
    Pkce,
    Reconnected,
    Rejected,
    RetryPolicy,
    Session,
    Snapshot,
    Subscription,
    SubscriptionClosed,
    Unauthorized,
    challenge_of,
    sign_in,
)
from livefold_sdk.errors import DecodeError
from livefold_sdk.events import MessageSent
from livefold_sdk.kafka import EventConsumer

from livefold.access.tokens import issue_access_token
from livefold.settings import Settings
from tests.gateways import eventually
from tests.sdk_support import (
    PASSWORD,
    LiveGateway,
    TcpRelay,
    live_gateway,
    make_streamer,
    person_signing_in,
)

REPO = Path(__file__).resolve().parent.parent
EVENTS_MODULE = REPO / "sdk" / "python" / "livefold_sdk" / "events.py"
F = TypeVar("F")
P = ParamSpec("P")


@dataclass(frozen=True)
class Person:
    user_id: str
    username: str
    session: Session


@dataclass(frozen=True)
class People:
    streamer: Person
    viewer: Person


@pytest.fixture(scope="module")
def live(folded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(folded, tmp_path_factory.mktemp("sdk-python")) as running:
        yield running


def register(url: str, role: str) -> tuple[str, str]:
    username = f"{role}{uuid.uuid4().hex[:10]}"
    with Livefold(url) as anonymous:
        account = anonymous.register(username, PASSWORD, f"The {role}", f"{username}@example.org")
    return str(account["user_id"]), username


def known(client: Livefold, stream_id: str) -> bool:
    try:
        return bool(client.stream(stream_id))
    except NotFound:
        return False


@pytest.fixture(scope="module")
def people(live: LiveGateway) -> People:
    oauth = OAuth.discover(live.url)
    streamer_id, streamer_name = register(live.url, "streamer")
    viewer_id, viewer_name = register(live.url, "viewer")
    streamer = sign_in(oauth, person_signing_in(streamer_name), timeout=30)
    make_streamer(live, streamer_id)
    with Livefold(live.url, auth=streamer) as client:
        eventually(lambda: "streamer" in {r["role"] for r in client.me()["roles"]})
    streamer.access_token(force_refresh=True)  # the new token carries the role
    viewer = sign_in(oauth, person_signing_in(viewer_name), timeout=30)
    return People(
        Person(streamer_id, streamer_name, streamer), Person(viewer_id, viewer_name, viewer)
    )


async def new_stream(client: AsyncLivefold, title: str = "SDK live test") -> str:
    stream_id = (await client.create_stream(title, "Software", tags=["sdk"]))["stream_id"]
    deadline = time.monotonic() + 15
    while True:
        try:
            await client.stream(stream_id)
            return stream_id
        except NotFound:
            assert time.monotonic() < deadline, "the stream did not reach the gateway"
            await asyncio.sleep(0.05)


def relay_to(live: LiveGateway) -> TcpRelay:
    return TcpRelay(live.settings.host, live.settings.gateway_port)


@contextlib.asynccontextmanager
async def on_a_new_stream(
    live: LiveGateway,
    people: People,
    viewer_url: str | None = None,
    retry: RetryPolicy | None = None,
) -> AsyncIterator[tuple[AsyncLivefold, AsyncLivefold, str]]:
    """Both people's clients and a stream the streamer just created; the viewer's client
    through `viewer_url` (a relay) when given."""
    async with (
        AsyncLivefold(live.url, auth=people.streamer.session) as streamer,
        AsyncLivefold(viewer_url or live.url, auth=people.viewer.session, retry=retry) as viewer,
    ):
        yield streamer, viewer, await new_stream(streamer)


async def watch(subscription: Subscription, stream_id: str, channels: list[str]) -> Snapshot:
    """Subscribes and waits for the first frame, the snapshot."""
    await subscription.subscribe(stream_id, channels)
    return await next_of(subscription, Snapshot)


async def next_of(subscription: Subscription, kind: type[F], timeout: float = 15.0) -> F:
    deadline = time.monotonic() + timeout
    while True:
        frame = await subscription.next(max(0.01, deadline - time.monotonic()))
        if isinstance(frame, kind):
            return frame


async def chat_texts(subscription: Subscription, count: int) -> list[str]:
    texts: list[str] = []
    while len(texts) < count:
        frame = await next_of(subscription, Batch)
        texts += [n.value["text"] for n in frame.notices if n.kind == "message"]
    return texts


def scenario(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Runs an async test to its end (at most 90 s) on an event loop of its own."""

    @functools.wraps(test)
    def running(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 90))

    return running


def test_the_pkce_challenge_is_rfc_7636s_s256() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_of(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    fresh = Pkce.new()
    assert len(fresh.verifier) == 64 and fresh.challenge == challenge_of(fresh.verifier)


def test_a_new_user_signs_in_with_pkce_and_the_session_refreshes_its_tokens(
    live: LiveGateway,
) -> None:
    user_id, username = register(live.url, "newcomer")
    session = sign_in(OAuth.discover(live.url), person_signing_in(username), timeout=30)
    first = session.tokens
    assert first.refresh_token and first.id_token and first.expires_at > time.time()
    with Livefold(live.url, auth=session) as client:
        me = client.me()
        assert me["user_id"] == user_id and me["username"] == username
    fresh = session.access_token(force_refresh=True)
    assert fresh != first.access_token and session.tokens.refresh_token != first.refresh_token
    assert first.refresh_token is not None
    with pytest.raises(OAuthError) as replayed:  # a rotated refresh token is spent
        session.oauth.refresh(first.refresh_token)
    assert replayed.value.error == "invalid_grant"


@scenario
async def test_chat_sent_over_rest_reaches_the_viewers_subscription(
    live: LiveGateway, people: People
) -> None:
    async with on_a_new_stream(live, people) as (_, viewer, stream_id):
        async with viewer.subscription() as subscription:
            assert subscription.user == people.viewer.user_id
            snapshot = await watch(subscription, stream_id, ["chat", "stream"])
            assert snapshot.stream == stream_id and not snapshot.resumed
            sent = await viewer.send_chat(stream_id, "hello from the Python SDK")
            frame = await next_of(subscription, Batch)
            while not any(n.kind == "message" for n in frame.notices):
                frame = await next_of(subscription, Batch)
            (message,) = [n.value for n in frame.notices if n.kind == "message"]
            assert message["text"] == "hello from the Python SDK"
            assert message["message_id"] == sent["message_id"]
            assert message["author"] == people.viewer.user_id
        # The live notice goes out at once; the chat view behind history follows shortly.
        deadline = time.monotonic() + 5
        history = await viewer.chat_history(stream_id)
        while not history["items"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            history = await viewer.chat_history(stream_id)
        assert [m["text"] for m in history["items"]] == ["hello from the Python SDK"]


@scenario
async def test_a_follower_is_told_over_the_socket_and_lists_it_and_registers_push_and_webhooks(
    live: LiveGateway, people: People
) -> None:
    async with on_a_new_stream(live, people) as (streamer, viewer, stream_id):
        followed = await viewer.waiting(10).follow(stream_id)
        assert followed["status"] == "applied"
        deadline = time.monotonic() + 15
        while stream_id not in (await viewer.notifications())["following"]:
            assert time.monotonic() < deadline, "the follow did not reach the gateway"
            await asyncio.sleep(0.05)
        async with viewer.subscription() as subscription:
            await streamer.go_live(stream_id)
            frame = await next_of(subscription, Notification)
        told = frame.notification
        assert (told["kind"], told["stream_id"]) == ("stream_live", stream_id)

        # The list is the stream's notifications view, which may follow the notice by a
        # publish interval (agents/publish.py): asked until it lists the notification first.
        async def newest_listed() -> object:
            listed = (await viewer.notifications(limit=5))["notifications"]
            return listed[0]["notification_id"] if listed else None

        deadline = time.monotonic() + 10
        while await newest_listed() != told["notification_id"]:
            assert time.monotonic() < deadline, "the notification was never listed first"
            await asyncio.sleep(0.05)
        key = (await viewer.vapid_public_key())["public_key"]
        pushed = await viewer.register_push_subscription(
            "https://push.example.net/s/9", key, "c2VjcmV0LWF1dGgtYnl0ZXM"
        )
        assert pushed["event_id"]
        hook = await viewer.register_webhook("https://bot.example.net/h", ["stream_live"])
        assert len(hook["secret"]) == 64
        assert (await viewer.remove_webhook(hook["webhook_id"]))["event_id"]


@scenario
async def test_a_quiz_started_without_an_id_gets_one_and_lists_as_views(
    live: LiveGateway, people: People
) -> None:
    async with on_a_new_stream(live, people) as (streamer, viewer, stream_id):
        started = await streamer.create_quiz(stream_id, "2+2?", ["4", "5"], "1", points=5)
        quiz_id = started["quiz_id"]
        assert quiz_id and started["question_id"]
        deadline = time.monotonic() + 30
        listed = await viewer.quizzes(stream_id)
        while not listed["items"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            listed = await viewer.quizzes(stream_id)
        (view,) = listed["items"]
        assert (view["kind"], view["quiz_id"]) == ("question", quiz_id)
        assert view["question"] == "2+2?"
        asked = await streamer.pose_question(stream_id, quiz_id, "3+3?", ["6", "7"], "1")
        assert asked["question_id"] != started["question_id"]


@scenario
async def test_a_vote_shows_in_the_tally_live_and_over_rest(
    live: LiveGateway, people: People
) -> None:
    async with (
        on_a_new_stream(live, people) as (streamer, viewer, stream_id),
        viewer.subscription() as subscription,
    ):
        await watch(subscription, stream_id, ["polls"])
        options = {"py": "Python", "ts": "TypeScript"}
        created = await streamer.create_poll(stream_id, "Which SDK?", options, duration_seconds=600)
        poll_id = created["poll_id"]
        await streamer.open_poll(stream_id, poll_id)
        await viewer.vote(stream_id, poll_id, "py")
        votes: dict[str, int] = {}
        while votes.get("py") != 1:
            frame = await next_of(subscription, Batch)
            for update in frame.updates:
                if update.key == f"{stream_id}/{poll_id}":
                    votes = {o["option_id"]: o["votes"] for o in update.value["options"]}
        assert votes == {"py": 1, "ts": 0}
        result = await viewer.poll(stream_id, poll_id)
        assert result["status"] == "open" and result["voters"] == 1
        assert [(o["option_id"], o["percent"]) for o in result["options"]] == [
            ("py", 100.0),
            ("ts", 0.0),
        ]


@scenario
async def test_after_a_network_cut_the_subscription_resumes_with_exactly_what_it_missed(
    live: LiveGateway, people: People
) -> None:
    async with (
        relay_to(live) as relay,
        on_a_new_stream(live, people) as (streamer, viewer, stream_id),
        Subscription(
            relay.url, auth=people.viewer.session, backoff=0.05, max_backoff=0.2
        ) as subscription,
    ):
        await watch(subscription, stream_id, ["chat"])
        await viewer.send_chat(stream_id, "before the cut")
        assert await chat_texts(subscription, 1) == ["before the cut"]
        relay.cut()
        missed = ["missed one", "missed two", "missed three"]
        for text in missed:
            await streamer.send_chat(stream_id, text)
        while len((await viewer.chat_history(stream_id))["items"]) < 4:
            await asyncio.sleep(0.05)
        relay.heal()
        back = await next_of(subscription, Reconnected)
        assert back.code is None and subscription.reconnects == 1
        snapshot = await next_of(subscription, Snapshot)
        assert snapshot.resumed and snapshot.complete
        assert [n.value["text"] for n in snapshot.notices if n.kind == "message"] == missed
        await viewer.send_chat(stream_id, "live again")
        assert await chat_texts(subscription, 1) == ["live again"]


@scenario
async def test_a_silent_connection_is_caught_by_the_heartbeat_and_replaced(
    live: LiveGateway, people: People
) -> None:
    async with (
        relay_to(live) as relay,
        AsyncLivefold(live.url, auth=people.streamer.session) as streamer,
        Subscription(
            relay.url, auth=people.viewer.session, heartbeat=0.3, heartbeat_timeout=0.7,
            backoff=0.05,
        ) as subscription,
    ):  # fmt: skip
        stream_id = await new_stream(streamer)
        await watch(subscription, stream_id, ["chat"])
        relay.freeze()  # bytes stop; no close, no error: only the missing pong tells
        started = time.monotonic()
        back = await next_of(subscription, Reconnected, timeout=10)
        assert back.code is None and time.monotonic() - started < 5
        await next_of(subscription, Snapshot)
        await streamer.send_chat(stream_id, "after the silence")
        assert await chat_texts(subscription, 1) == ["after the silence"]


def short_token(live: LiveGateway, user_id: str, ttl_seconds: int = 4) -> str:
    """An access token as the gateway's authorization server signs them, but short-lived."""
    settings = live.settings
    return issue_access_token(
        live.auth.keys,
        user_id=user_id,
        roles={"viewer"},
        issuer=settings.gateway_url,
        audience=settings.auth_audience,
        ttl_seconds=ttl_seconds,
    )


@scenario
async def test_a_token_provider_keeps_the_socket_signed_in_past_each_expiry_and_on_reconnect(
    live: LiveGateway, people: People
) -> None:
    issued: list[float] = []  # when the provider was asked

    async def provider() -> str:
        issued.append(time.time())
        return short_token(live, people.viewer.user_id)

    async with (
        relay_to(live) as relay,
        AsyncLivefold(live.url, auth=people.streamer.session) as streamer,
        Subscription(relay.url, token_provider=provider, backoff=0.05) as mine,
    ):
        assert mine.user == people.viewer.user_id and len(issued) == 1
        first_expiry = mine.expires_at
        assert first_expiry is not None
        stream_id = await new_stream(streamer)
        await watch(mine, stream_id, ["chat"])
        await asyncio.sleep(first_expiry + 2 - time.time())  # past the first token's end
        assert mine.reconnects == 0 and len(issued) >= 2
        assert mine.expires_at is not None and mine.expires_at > first_expiry
        await mine.send_chat(stream_id, "signed in all along")
        assert await chat_texts(mine, 1) == ["signed in all along"]
        relay.cut()
        cut_at = time.time()
        relay.heal()
        await next_of(mine, Reconnected)
        assert any(asked > cut_at for asked in issued)  # the new connection asked for one
        assert mine.user == people.viewer.user_id
        await mine.send_chat(stream_id, "and after the reconnect")
        assert await chat_texts(mine, 1) == ["and after the reconnect"]


@scenario
async def test_a_session_refreshes_the_sockets_token_before_it_expires(live: LiveGateway) -> None:
    user_id, username = register(live.url, "refresher")
    signed_in = sign_in(OAuth.discover(live.url), person_signing_in(username), timeout=30)
    short = short_token(live, user_id)
    # The session takes the short token for a long one: only the gateway's word says otherwise.
    tokens = replace(signed_in.tokens, access_token=short, expires_at=time.time() + 3600)
    session = Session(signed_in.oauth, tokens)

    async with Subscription(live.url, auth=session) as mine:
        first_expiry = mine.expires_at
        assert first_expiry is not None and first_expiry - time.time() < 5
        await asyncio.sleep(first_expiry + 1 - time.time())
        assert mine.reconnects == 0 and session.tokens.access_token != short
        assert mine.expires_at is not None and mine.expires_at > first_expiry + 60
        stream_id = "no-such-stream"
        with pytest.raises(NotFound):  # signed in (an anonymous write would be 401)
            await mine.send_chat(stream_id, "still me")


def test_refusals_carry_the_gateways_error_field_and_reason(
    live: LiveGateway, people: People
) -> None:
    with Livefold(live.url, auth=people.streamer.session) as streamer:
        stream_id = streamer.create_stream("Refusals", "Software")["stream_id"]
        eventually(lambda: known(streamer, stream_id))
        with pytest.raises(InvalidRequest) as invalid:
            streamer.create_poll(stream_id, "One option?", ["only"], duration_seconds=60)
        assert invalid.value.status == 422 and invalid.value.error == "invalid"
        assert invalid.value.field("options"), invalid.value.fields
    with Livefold(live.url, auth=people.viewer.session) as viewer:
        with pytest.raises(Forbidden) as forbidden:
            viewer.create_stream("Not mine", "Games")
        assert forbidden.value.status == 403 and "streamer" in forbidden.value.reason
        with pytest.raises(InvalidRequest) as invalid:
            viewer.send_chat(stream_id, "")
        assert invalid.value.status == 422 and invalid.value.field("text")
        with pytest.raises(NotFound):
            viewer.poll(stream_id, "no-such-poll")
    with Livefold(live.url, auth="not-a-token") as stranger, pytest.raises(Unauthorized):
        stranger.send_chat(stream_id, "hello?")


@scenario
async def test_socket_writes_are_acked_refused_with_fields_and_a_late_vote_comes_back_rejected(
    live: LiveGateway, people: People
) -> None:
    async with (
        AsyncLivefold(live.url, auth=people.streamer.session) as streamer,
        Subscription(live.url, auth=people.streamer.session) as watching,
        Subscription(live.url, auth=people.viewer.session) as mine,
    ):
        stream_id = await new_stream(streamer)
        await watch(watching, stream_id, ["chat"])
        sent = await mine.send_chat(stream_id, "hello over the socket", ref="py-hello")
        assert sent["message_id"] == sent["event_id"]
        again = await mine.send_chat(stream_id, "hello over the socket", ref="py-hello")
        assert again["event_id"] == sent["event_id"]
        with pytest.raises(InvalidRequest) as refused:
            await mine.send_chat(stream_id, "")
        assert refused.value.status == 422 and refused.value.field("text")
        await streamer.send_chat(stream_id, "afterwards")
        assert await chat_texts(watching, 2) == ["hello over the socket", "afterwards"]
        options = {"a": "Yes", "b": "No"}
        poll = await streamer.create_poll(stream_id, "Late?", options, duration_seconds=600)
        await streamer.open_poll(stream_id, poll["poll_id"])
        await streamer.close_poll(stream_id, poll["poll_id"])
        late = await mine.vote(stream_id, poll["poll_id"], "a")
        rejected = await next_of(mine, Rejected)
        assert (rejected.event_id, rejected.stream) == (late["event_id"], stream_id)
        assert rejected.channel == "polls" and "closed" in rejected.reason
        with pytest.raises(TimeoutError):  # the streamer's socket hears nothing of it
            await next_of(watching, Rejected, timeout=1.0)


@scenario
async def test_the_author_hears_why_a_held_message_is_held_a_blocked_one_rejected_with_its_rule(
    live: LiveGateway, people: People
) -> None:
    async with (
        AsyncLivefold(live.url, auth=people.streamer.session) as streamer,
        Subscription(live.url, auth=people.viewer.session) as mine,
    ):
        stream_id = await new_stream(streamer, "Author feedback")
        held = await mine.send_chat(stream_id, "you are an idiot")
        heard = await next_of(mine, Held)
        assert (heard.message_id, heard.event_id, heard.stream) == (
            held["message_id"], held["event_id"], stream_id
        )  # fmt: skip
        assert heard.reason.startswith("held for review"), heard
        assert (heard.rule, heard.category, heard.channel) == (
            "toxicity",
            "insult",
            "moderation",
        )
        blocked = await mine.send_chat(stream_id, "i know where you live")
        refused = await next_of(mine, Rejected)
        assert (refused.event_id, refused.message_id) == (
            blocked["event_id"], blocked["message_id"]
        )  # fmt: skip
        assert refused.reason.startswith("blocked") and refused.rule, refused


def test_anyone_reads_users_public_names_by_id(live: LiveGateway, people: People) -> None:
    with Livefold(live.url) as anonymous:
        items = anonymous.profiles([people.viewer.user_id, "nobody-here"])["items"]
        assert items == [
            {"user_id": people.viewer.user_id, "username": people.viewer.username,
             "display_name": "The viewer"},
            {"user_id": "nobody-here", "username": None, "display_name": None},
        ]  # fmt: skip
        with pytest.raises(InvalidRequest) as invalid:
            anonymous.profiles([f"user-{n}" for n in range(101)])
        assert invalid.value.status == 422 and invalid.value.field("ids")


@scenario
async def test_a_socket_write_whose_ack_is_lost_is_resent_after_the_reconnect_into_one_message(
    live: LiveGateway, people: People
) -> None:
    async with (
        relay_to(live) as relay,
        AsyncLivefold(live.url, auth=people.streamer.session) as streamer,
        Subscription(live.url, auth=people.streamer.session) as watching,
        Subscription(relay.url, auth=people.viewer.session, backoff=0.05) as mine,
    ):
        stream_id = await new_stream(streamer)
        await watch(watching, stream_id, ["chat"])
        relay.lose_next_answer()  # the ack dies with the connection
        sent = await mine.send_chat(stream_id, "acked on the second connection")
        assert relay.answers_lost == 1 and mine.reconnects == 1
        await streamer.send_chat(stream_id, "afterwards")
        shown: list[tuple[str, str]] = []
        while len(shown) < 2:
            frame = await next_of(watching, Batch)
            messages = [n.value for n in frame.notices if n.kind == "message"]
            shown += [(m["text"], m["message_id"]) for m in messages]
        assert shown == [
            ("acked on the second connection", sent["message_id"]),
            ("afterwards", shown[1][1]),
        ]


@scenario
async def test_a_forged_token_ends_the_subscription_with_4401_and_the_reason(
    live: LiveGateway,
) -> None:
    subscription = Subscription(live.url, auth="not-a-token")
    with pytest.raises(SubscriptionClosed) as closed:
        await subscription.connect()
    assert closed.value.code == 4401 and "token" in closed.value.reason
    await subscription.close()


@scenario
async def test_a_write_whose_answer_is_lost_is_retried_into_one_event_read_back_from_kafka(
    live: LiveGateway, people: People
) -> None:
    policy = RetryPolicy(attempts=5, backoff=0.05)
    async with (
        relay_to(live) as relay,
        on_a_new_stream(live, people, relay.url, policy) as (_, viewer, stream_id),
    ):
        relay.lose_next_answer()
        sent = await viewer.send_chat(stream_id, "said once, sent twice")
        assert relay.answers_lost == 1
        again = await viewer.send_chat(stream_id, "said twice", idempotency_key="mine-1")
        replay = await viewer.send_chat(stream_id, "said twice", idempotency_key="mine-1")
        assert replay["event_id"] == again["event_id"]
    bodies = await asyncio.to_thread(chat_events_of, live.settings, stream_id, 2)
    texts = [body["text"] for body in bodies]
    assert texts == ["said once, sent twice", "said twice"]
    assert bodies[0]["event_id"] == sent["event_id"]
    assert bodies[0]["actor_id"] == people.viewer.user_id


def chat_events_of(settings: Settings, stream_id: str, expected: int) -> list[MessageSent]:
    """MessageSent bodies of one stream, read from the chat topic with the SDK's consumer,
    until `expected` came and the topic then stayed quiet for a while."""
    found: list[MessageSent] = []
    with EventConsumer(
        settings.kafka_bootstrap, settings.registry, f"sdk-test-{uuid.uuid4().hex}", ["chat"],
        from_beginning=True,
    ) as consumer:  # fmt: skip
        deadline, quiet = time.monotonic() + 60, 0
        while quiet < 2:  # once all came, two quiet polls: nothing more (no duplicate) follows
            assert time.monotonic() < deadline, f"found only {found}"
            try:
                event = consumer.poll(1.0)
            except DecodeError:  # another test's deliberately garbled record: moved past
                continue
            if event is None:
                quiet += len(found) >= expected
                continue
            quiet = 0
            if event.type == "livefold.chat.MessageSent" and event.key == stream_id:
                found.append(event.body_as(MessageSent))
    return found


def test_the_generated_event_types_match_the_schemas() -> None:
    command = [sys.executable, "-m", "livefold_sdk.codegen", "schemas", str(EVENTS_MODULE)]
    checked = subprocess.run(
        [*command, "--check"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
