"""Every fold by its channel name, for drivers that run them all (agents, replay, benchmarks)."""

from __future__ import annotations

from livefold import audience, chat, media, notifications, polls, quizzes, reactions, stream, tips
from livefold.folding import Domain

DOMAINS: dict[str, Domain] = {
    stream.CHANNEL: stream,
    chat.CHANNEL: chat,
    polls.CHANNEL: polls,
    quizzes.CHANNEL: quizzes,
    reactions.CHANNEL: reactions,
    tips.CHANNEL: tips,
    audience.CHANNEL: audience,
    media.CHANNEL: media,
    notifications.CHANNEL: notifications,  # last: it follows what the others decided
}
