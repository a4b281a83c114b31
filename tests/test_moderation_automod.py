"""What the rules do is seen: a held or blocked message is told to its author (a `held` or
`rejected` frame's record, with the reason), logged in the mod log as "automod" with the rule
and score, and a block is a notice on the moderation channel. A stream sets a sensitivity per
category: swearing may be allowed, threats never."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from livefold.folding import Notice, Output, Rejected, ToAuthor, Update
from livefold.moderation.fold import flush
from streams.events import Event
from tests.test_moderation_fold import MOD, STREAMER, TROLL, VIEWER, Session, verdict


def send(s: Session, at: float, text: str, user: str = VIEWER) -> list[Output]:
    return s.event(at, "livefold.chat.MessageSent", user, message_id=f"m-{at}", text=text,
                   emotes=[])  # fmt: skip


def told(outputs: list[Output]) -> ToAuthor:
    (notice,) = [o for o in outputs if isinstance(o, ToAuthor)]
    return notice


def issued(outputs: list[Output]) -> tuple[str, str]:
    (event,) = [o for o in outputs if isinstance(o, Event) and o.name == "VerdictIssued"]
    return verdict(event.body)


def test_the_author_hears_their_message_is_held_for_review_or_blocked_and_why() -> None:
    s = Session()
    held = told(send(s, 1, "you are an idiot", TROLL))
    assert held.value["frame"] == "held" and held.value["actor_id"] == TROLL
    assert held.value["reason"].startswith("held for review: insults")
    assert held.value["message_id"] == "m-1" and held.value["category"] == "insult"
    blocked = told(send(s, 2, "i will find you and kill you", TROLL))
    assert blocked.value["frame"] == "rejected"
    assert (
        blocked.value["reason"] == "blocked: threats of violence or self-harm are not allowed here"
    )
    assert blocked.value["event_type"] == "livefold.chat.MessageSent"
    refused = told(send(s, 3, "look \u202ehere", TROLL))
    assert "direction control" in refused.value["reason"]
    assert not [o for o in send(s, 4, "hello chat") if isinstance(o, Rejected)]


def test_automatic_holds_and_blocks_are_in_the_mod_log_and_blocks_on_the_channel() -> None:
    s = Session()
    outputs = send(s, 1, "kill yourself", TROLL)
    (notice,) = [o for o in outputs if isinstance(o, Notice)]
    assert (notice.channel, notice.kind) == ("moderation", "blocked")
    assert notice.value["user_id"] == TROLL and notice.value["text"] == "kill yourself"
    assert notice.value["rule"] == "toxicity" and notice.value["detail"] == "threat"
    _, published = flush(s.facts, datetime.now(UTC))
    assert any(isinstance(o, Update) and o.channel == "modlog" for o in published)
    assert flush(s.facts, datetime.now(UTC))[1] == []
    send(s, 2, "you are an idiot", TROLL)
    entries: list[dict[str, Any]] = s.facts["modlog"]
    assert [(e["moderator"], e["action"], e["target"], e["rule"]) for e in entries] == [
        ("automod", "block", TROLL, "toxicity"),
        ("automod", "hold", TROLL, "toxicity"),
    ]
    assert entries[0]["score"] >= 0.8 and entries[0]["message_id"] == "m-1"
    assert entries[0]["detail"] == "threat"


def test_verdicts_that_follow_a_moderators_ban_are_told_but_not_logged_again() -> None:
    s = Session()
    s.act(1, "UserBanned", user_id=TROLL, reason="spam")
    outputs = send(s, 2, "let me in", TROLL)
    assert issued(outputs) == ("block", "banned")
    assert told(outputs).value["reason"] == "blocked: you are banned from this chat"
    assert [e["action"] for e in s.facts["modlog"]] == ["ban"]


def test_a_streamer_may_allow_swearing_but_threats_stay_blocked() -> None:
    s = Session()
    assert issued(send(s, 1, "holy shit that was close")) == ("hold", "toxicity")
    s.act(2, "FilterSettingsChanged", category_levels={"profanity": "off"})
    assert issued(send(s, 3, "holy shit that was close", "v2")) == ("allow", "clean")
    s.act(4, "ModeratorAppointed", user_id=MOD)
    (refused,) = s.act(4, "FilterSettingsChanged", MOD, category_levels={"threat": "off"})
    assert isinstance(refused, Rejected) and "threat cannot be turned off" in refused.reason
    s.act(5, "FilterSettingsChanged", classifier_level="off")
    assert issued(send(s, 6, "i know where you live", "v3")) == ("block", "toxicity")
    assert issued(send(s, 7, "you are an idiot", "v4")) == ("allow", "clean")
    s.act(8, "FilterSettingsChanged", category_levels={"insult": "high"})
    assert issued(send(s, 9, "you are an idiot", "v5"))[0] == "block"
    assert s.facts["settings"]["category_levels"] == {"insult": "high", "profanity": "off"}


def test_the_spam_category_turns_the_shape_rules_off() -> None:
    s = Session()
    wall = "lol " * 12
    assert issued(send(s, 1, wall)) == ("block", "spam_repetition")
    s.act(2, "FilterSettingsChanged", category_levels={"spam": "off"})
    assert issued(send(s, 3, wall, "v2")) == ("allow", "clean")
    assert s.facts["owner"] == STREAMER
