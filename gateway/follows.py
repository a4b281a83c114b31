"""Follows: follow or unfollow a stream's channel (its streamer); counts are in the audience
channel, and followers-only chat mode reads them (livefold/moderation)."""

from __future__ import annotations

from gateway.errors import ApiError
from gateway.writes import Context, Who, Write


async def channel_of_stream(context: Context) -> None:
    streamer = context.gateway.rights.owners.get(context.stream_id)
    if streamer is None:
        raise ApiError(409, "no_channel", "the stream has no streamer yet")
    context.payload["channel_id"] = streamer


def follow(method: str, event: str, summary: str) -> Write:
    return Write(
        method,
        "/streams/{stream_id}/follow",
        f"livefold.audience.{event}",
        summary,
        Who.ANYONE,
        fixed={"channel_id": ""},
        prepare=channel_of_stream,
    )


WRITES = [
    follow("PUT", "Followed", "Follow the stream's channel"),
    follow("DELETE", "Unfollowed", "Unfollow the stream's channel"),
]
