"""The whole path with the real fold worker (Faust, `agents`): a chat message sent over HTTP
is judged by moderation, folded into chat and reaches a WebSocket subscriber; a message
moderation holds reaches only the moderators' queue until a moderator approves it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agents.service import service as fold_worker
from infra.service import RunningService
from livefold.settings import Settings
from tests.gateways import Running, Tokens, connect, gateway, next_frame, subscribe
from tests.servers import log_to

STREAMER, VIEWER, MOD = "streamer-ida", "viewer-jo", "mod-kit"


@pytest.fixture(scope="module")
def live(stack: Settings) -> Iterator[Running]:
    settings = stack.model_copy(update={"fold_group": "gateway-e2e-folds"})
    spec = fold_worker(settings)
    worker = RunningService(spec, log_to(settings.data_dir / "logs")(spec))
    worker.start()
    try:
        with gateway(settings, "gateway-e2e") as running:
            yield running
    finally:
        worker.stop()


def test_chat_goes_through_moderation_and_the_folds_to_subscribers_and_held_waits(
    live: Running,
) -> None:
    tokens = Tokens(live.settings)
    api = httpx.Client(base_url=f"{live.url}/api/v1", timeout=10)

    def post(path: str, user: str, body: dict[str, Any] | None = None) -> Any:
        roles = {"streamer"} if user == STREAMER else {"viewer"}
        answer = api.post(path, json=body or {}, headers=tokens.headers(user, roles))
        assert answer.status_code == 202, answer.text
        return answer.json()

    def until(check: Any) -> Any:
        deadline = time.monotonic() + 30
        while not (found := check()):
            assert time.monotonic() < deadline, "the folds did not publish in time"
            time.sleep(0.1)
        return found

    stream_id = post("/streams", STREAMER, {"title": "E2E", "category": "Tests"})["stream_id"]
    until(lambda: api.get(f"/streams/{stream_id}").status_code == 200)
    post(f"/streams/{stream_id}/moderators", STREAMER, {"user_id": MOD})
    staff = f"/streams/{stream_id}/moderators"
    until(lambda: MOD in api.get(staff, headers=tokens.headers(STREAMER)).json()["moderators"])

    async def scenario() -> None:
        async with (
            connect(live) as viewer,
            connect(live, f"access_token={tokens.token(MOD)}") as moderator,
        ):
            await viewer.recv()
            await moderator.recv()
            await subscribe(viewer, stream_id, ["chat"])
            await subscribe(moderator, stream_id, ["moderation"])
            post(f"/streams/{stream_id}/chat", VIEWER, {"text": "hello everyone"})
            shown = await next_frame(viewer, lambda f: f["type"] == "batch" and f["notices"])
            assert [n["value"]["text"] for n in shown["notices"]] == ["hello everyone"]

            held = post(
                f"/streams/{stream_id}/chat", VIEWER, {"text": "buy cheap gold at goldshop.com now"}
            )
            queued = await next_frame(
                moderator, lambda f: any(n["kind"] == "held" for n in f.get("notices", ()))
            )
            (item,) = [n["value"] for n in queued["notices"] if n["kind"] == "held"]
            assert item["message_id"] == held["message_id"] and item["rule"] == "spam_link"
            with pytest.raises(TimeoutError):
                await next_frame(viewer, lambda f: bool(f["notices"]), timeout=1.0)

            post(f"/streams/{stream_id}/moderation/queue/{held['message_id']}/approve", MOD)
            released = await next_frame(viewer, lambda f: f["type"] == "batch" and f["notices"])
            assert [n["value"]["message_id"] for n in released["notices"]] == [held["message_id"]]

    asyncio.run(scenario())
