"""The moderation fold: verdicts from the state at that point in the log, moderator actions,
roles, the review queue, the mod log, platform defaults, dedupe and exact replay."""

# ruff: noqa: RUF001  (look-alike letters are what these tests are about)

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from livefold import chat
from livefold.folding import Notice, Output, Rejected, Update, dumps, facts, loads
from livefold.moderation.fold import flush, fold, key_of
from livefold.moderation.lexicon import Category
from livefold.moderation.normalize import Text
from livefold.moderation.state import (
    PLATFORM,
    ModerationState,
    can_moderate,
    new_state,
    review_queue,
)
from streams.events import Event, new_event

T0 = datetime(2026, 5, 1, 20, 0, tzinfo=UTC)
STREAMER, MOD, VIEWER, TROLL = "streamer", "mod-anna", "viewer-1", "troll-9"
MOD_EVENTS = "livefold.moderation."


class Session:
    """One stream's moderation state, fed events at seconds after T0."""

    def __init__(self, stream: str = "stream-1", platform: ModerationState | None = None):
        self.stream = stream
        self.platform = platform
        self.state: ModerationState | None = None
        self.log: list[Event] = []
        self.event(0, "livefold.stream.Created", STREAMER, title="t", category="c", tags=[])

    def event(self, at: float, type: str, actor: str, **payload: Any) -> list[Output]:
        event = new_event(
            type, stream_id=self.stream, actor_id=actor, occurred_at=T0 + timedelta(seconds=at),
            **payload,
        )  # fmt: skip
        return self.apply(event)

    def apply(self, event: Event) -> list[Output]:
        self.log.append(event)
        self.state, outputs = fold(self.state, event, self.platform)
        return outputs

    def act(self, at: float, name: str, actor: str = STREAMER, **payload: Any) -> list[Output]:
        return self.event(at, MOD_EVENTS + name, actor, **payload)

    def say(self, at: float, text: Any, user: str = VIEWER, **extra: Any) -> dict[str, Any]:
        message_id = f"m-{len(self.log)}"
        outputs = self.event(
            at, "livefold.chat.MessageSent", user, message_id=message_id, text=text, emotes=[],
            **extra,
        )  # fmt: skip
        verdicts = [o for o in outputs if isinstance(o, Event) and o.name == "VerdictIssued"]
        assert len(verdicts) == 1, outputs
        return verdicts[0].body

    @property
    def facts(self) -> ModerationState:
        assert self.state is not None
        return self.state


def verdict(body: dict[str, Any]) -> tuple[str, str]:
    return body["verdict"], body["rule"]


def events_named(outputs: list[Output], name: str) -> list[Event]:
    return [o for o in outputs if isinstance(o, Event) and o.name == name]


def test_a_message_gets_one_verdict_event_from_the_system_at_its_own_time() -> None:
    s = Session()
    body = s.say(5, "hello chat")
    assert verdict(body) == ("allow", "clean")
    assert body["actor_id"] == "system" and body["stream_id"] == "stream-1"
    assert body["occurred_at"] == s.log[-1].occurred_at_ms
    assert body["message_id"] == s.log[-1].body["message_id"]


def test_a_blocked_term_is_blocked_in_every_disguise_but_not_inside_other_words() -> None:
    s = Session()
    s.act(1, "TermBlocked", term="hate", match="word")
    for n, text in enumerate(["I hate you all", "h4te", "ＨＡＴＥ", "h\u200bate", "h a t e"]):
        assert verdict(s.say(10 + n, text, user=f"u{n}")) == ("block", "blocked_term"), text
    assert verdict(s.say(20, "whatever, I'm chatting")) == ("allow", "clean")
    s.act(21, "TermUnblocked", term="hate")
    assert verdict(s.say(22, "I hate Mondays", user="u9"))[0] == "allow"


def test_a_held_message_waits_in_the_queue_and_approval_releases_it_in_place() -> None:
    s = Session()
    held = s.say(10, "you are an idiot", user=TROLL)
    assert verdict(held) == ("hold", "toxicity")
    later = s.say(11, "nice play")
    queue = review_queue(s.facts)
    assert [item["message_id"] for item in queue] == [held["message_id"]]
    assert queue[0]["held"] and queue[0]["text"] == "you are an idiot"
    _, published = flush(s.facts, T0)
    queues = [u for u in published if isinstance(u, Update) and u.channel == "moderation"]
    assert [u.value["size"] for u in queues] == [1]
    assert flush(s.facts, T0)[1] == []  # nothing new since

    outputs = s.act(30, "MessageReviewed", MOD, message_id=held["message_id"], decision="approve")
    assert [o.channel for o in outputs if isinstance(o, Rejected)] == ["moderation"]  # not a mod
    s.act(31, "ModeratorAppointed", user_id=MOD)
    outputs = s.act(32, "MessageReviewed", MOD, message_id=held["message_id"], decision="approve")
    (released,) = events_named(outputs, "VerdictIssued")
    assert verdict(released.body) == ("allow", "moderator")
    assert released.body["message_id"] == held["message_id"] and released.actor_id == MOD
    assert review_queue(s.facts) == []

    # the chat fold shows the released message before the one sent after it
    chat_state = None
    for event in [e for e in s.log if e.name == "MessageSent"]:
        chat_state, _ = chat.fold(chat_state, event)
    verdict_events = [held, later, released.body]
    for body in verdict_events:
        issued = Event("livefold.moderation.VerdictIssued", body)
        chat_state, _ = chat.fold(chat_state, issued)
    assert chat_state is not None
    assert [m["message_id"] for m in chat_state["recent"]] == [
        held["message_id"],
        later["message_id"],
    ]


def test_rejecting_with_a_ban_removes_the_message_bans_the_author_and_logs_both() -> None:
    s = Session()
    held = s.say(10, "you are an idiot", user=TROLL)
    outputs = s.act(
        20, "MessageReviewed", message_id=held["message_id"], decision="reject",
        reason="insults", ban_author=True,
    )  # fmt: skip
    (blocked,) = events_named(outputs, "VerdictIssued")
    assert verdict(blocked.body) == ("block", "moderator")
    (banned,) = events_named(outputs, "UserBanned")
    assert banned.body["user_id"] == TROLL and banned.actor_id == STREAMER
    assert verdict(s.say(21, "let me talk", user=TROLL)) == ("block", "banned")
    log = [(e["moderator"], e["action"], e["target"], e["reason"]) for e in s.facts["modlog"]]
    assert log == [
        ("automod", "hold", TROLL, "toxicity"),
        (STREAMER, "reject", held["message_id"], "insults"),
        (STREAMER, "ban", TROLL, "insults"),
    ]
    assert s.apply(banned) == []  # the emitted ban comes back from the topic: already applied
    assert len(s.facts["modlog"]) == 3


def test_a_time_out_ends_exactly_when_event_time_says_and_unban_restores() -> None:
    s = Session()
    s.act(10, "UserTimedOut", user_id=TROLL, until=T0 + timedelta(seconds=70), reason="cool off")
    assert verdict(s.say(69.999, "hello?", user=TROLL)) == ("block", "timed_out")
    assert verdict(s.say(70, "hello again", user=TROLL)) == ("allow", "clean")
    s.act(80, "UserBanned", user_id=TROLL, reason="again")
    assert verdict(s.say(81, "hi", user=TROLL)) == ("block", "banned")
    s.act(90, "UserUnbanned", user_id=TROLL, reason="appeal")
    assert verdict(s.say(91, "sorry", user=TROLL)) == ("allow", "clean")
    assert [e["action"] for e in s.facts["modlog"]] == ["timeout", "ban", "unban"]


def test_slow_mode_followers_only_and_the_streamers_blocked_users() -> None:
    s = Session()
    s.act(1, "ChatModeChanged", slow_seconds=30, emote_only=False, subscribers_only=False)
    assert verdict(s.say(10, "first"))[0] == "allow"
    assert verdict(s.say(39, "too soon")) == ("block", "slow_mode")
    assert verdict(s.say(40, "now ok"))[0] == "allow"
    assert verdict(s.say(41, "mods skip slow mode", user=STREAMER))[0] == "allow"
    modes = {"slow_seconds": 0, "followers_only_minutes": 5, "emote_only": False,
             "subscribers_only": False}  # fmt: skip
    s.event(50, "livefold.stream.SettingsChanged", STREAMER, chat_modes=modes)
    assert verdict(s.say(100, "hi", user="stranger")) == ("block", "followers_only")
    s.event(100, "livefold.audience.Followed", "stranger", channel_id=STREAMER)
    assert verdict(s.say(399, "hi again", user="stranger")) == ("block", "followers_only")
    assert verdict(s.say(400, "hi at last", user="stranger"))[0] == "allow"
    s.act(401, "UserBlocked", user_id="stranger")
    assert verdict(s.say(402, "hello?", user="stranger")) == ("block", "blocked_user")


def test_a_viewer_cannot_act_as_a_moderator() -> None:
    s = Session()
    assert not can_moderate(s.facts, VIEWER)
    assert can_moderate(s.facts, STREAMER) and can_moderate(s.facts, VIEWER, roles={"admin"})
    before = dumps(facts(s.facts))
    actions: list[tuple[str, dict[str, Any]]] = [
        ("UserBanned", {"user_id": TROLL}),
        ("UserTimedOut", {"user_id": TROLL, "until": T0 + timedelta(hours=1)}),
        ("TermBlocked", {"term": "gg", "match": "word"}),
        ("ChatModeChanged", {"slow_seconds": 60, "emote_only": True, "subscribers_only": False}),
        ("ModeratorAppointed", {"user_id": VIEWER}),
    ]
    for name, payload in actions:
        (refused,) = s.act(5, name, VIEWER, **payload)
        assert isinstance(refused, Rejected) and VIEWER in refused.reason
    assert dumps(facts(s.facts)) == before
    s.act(6, "ModeratorAppointed", user_id=MOD)
    assert can_moderate(s.facts, MOD)
    (refused,) = s.act(7, "ModeratorAppointed", MOD, user_id=VIEWER)  # only the streamer
    assert isinstance(refused, Rejected)
    (refused,) = s.act(8, "UserBanned", MOD, user_id=STREAMER)
    assert isinstance(refused, Rejected) and "streamer" in refused.reason
    s.act(9, "ModeratorRemoved", user_id=MOD)
    assert not can_moderate(s.facts, MOD)


def test_the_mod_log_records_every_action_with_who_what_when_and_why() -> None:
    s = Session()
    s.act(1, "ModeratorAppointed", user_id=MOD)
    s.act(2, "TermBlocked", MOD, term="spoiler", match="word")
    s.act(3, "TermAllowed", MOD, term="Scunthorpe")
    s.act(4, "FilterSettingsChanged", MOD, classifier_level="high")
    s.act(5, "ChatModeChanged", MOD, slow_seconds=5, emote_only=False, subscribers_only=False)
    s.act(6, "UserTimedOut", MOD, user_id=TROLL, until=T0 + timedelta(minutes=10), reason="spam")
    s.act(7, "UserUnbanned", MOD, user_id=TROLL, reason="mistake")
    s.act(8, "UserBanned", MOD, user_id=TROLL, reason="spam bot")
    log = s.facts["modlog"]
    assert [e["action"] for e in log] == [
        "appoint_moderator", "block_term", "allow_term", "filter_settings", "chat_modes",
        "timeout", "untimeout", "ban",
    ]  # fmt: skip
    assert [e["at"] for e in log] == [(T0 + timedelta(seconds=n)).timestamp() * 1000 for n in
                                      range(1, 9)]  # fmt: skip
    assert log[-1] == {**log[-1], "moderator": MOD, "target": TROLL, "reason": "spam bot"}
    assert "classifier_level=high" in log[3]["detail"]


def test_viewers_flag_messages_into_the_queue_ordered_by_time_and_by_score() -> None:
    s = Session()
    first = s.say(1, "buy gold at my shop", user="seller")
    second = s.say(2, "some spoilers here", user="spoiler")
    for n, reporter in enumerate(["v1", "v2", "v3"]):
        outputs = s.act(10 + n, "MessageFlagged", reporter, message_id=second["message_id"],
                        reporter=reporter, reason="spam")  # fmt: skip
        assert isinstance(outputs[0], Notice)
    s.act(20, "MessageFlagged", "v1", message_id=first["message_id"], reporter="v1", reason="spam")
    (again,) = s.act(21, "MessageFlagged", "v1", message_id=first["message_id"], reporter="v1")
    assert isinstance(again, Rejected)
    by_time = [i["message_id"] for i in review_queue(s.facts)]
    by_score = [i["message_id"] for i in review_queue(s.facts, by="score")]
    assert by_time == [first["message_id"], second["message_id"]]
    assert by_score == [second["message_id"], first["message_id"]]
    outputs = s.act(30, "MessageReviewed", message_id=second["message_id"], decision="reject")
    (deleted,) = events_named(outputs, "MessageDeleted")
    assert deleted.body["reason"] == "moderator"
    outputs = s.act(31, "MessageReviewed", message_id=first["message_id"], decision="approve")
    assert events_named(outputs, "VerdictIssued") == []  # shown already: flags dismissed
    assert review_queue(s.facts) == []


def test_platform_defaults_apply_to_every_stream_unless_the_stream_overrides_them() -> None:
    platform: ModerationState | None = None
    for type, actor, body in [
        ("livefold.accounts.RoleGranted", "system", {"user_id": "root", "role": "admin"}),
        (MOD_EVENTS + "TermBlocked", "root", {"term": "zorblat", "match": "word"}),
        (MOD_EVENTS + "FilterSettingsChanged", "root", {"classifier_level": "off"}),
    ]:
        event = new_event(type, stream_id=PLATFORM if "moderation" in type else "root",
                          actor_id=actor, occurred_at=T0, **body)  # fmt: skip
        assert key_of(event) == PLATFORM
        platform, outputs = fold(platform, event)
        assert not any(isinstance(o, Rejected) for o in outputs), outputs
    assert platform is not None and "root" in platform["admins"]
    a, b = Session("a", platform), Session("b", platform)
    assert verdict(a.say(1, "z0rblat")) == ("block", "blocked_term")
    assert verdict(a.say(2, "you are an idiot"))[0] == "allow"  # classifier off by default
    b.act(1, "TermAllowed", term="zorblat")
    b.act(2, "FilterSettingsChanged", classifier_level="high")
    assert verdict(b.say(3, "zorblat"))[0] == "allow"
    assert verdict(b.say(4, "you are an idiot", user="v2")) == ("block", "toxicity")
    assert can_moderate(b.facts, "root", platform=platform)
    assert not any(isinstance(o, Rejected) for o in b.act(5, "UserBanned", "root", user_id=TROLL))


def test_bad_messages_and_bad_actions_never_crash_the_fold() -> None:
    s = Session()
    for text, rule in [
        (None, "input_not_text"),
        (42, "input_not_text"),
        ("", "input_empty"),
        ("x" * 501, "input_too_long"),
        ("a\x00b", "input_control_characters"),
        ("\ud800", "input_invalid_utf8"),
        ("\u200b", "input_invisible_only"),
    ]:
        assert verdict(s.say(1, text, user=f"u{rule}")) == ("block", rule)  # fmt: skip
    for name, payload in [
        ("UserBanned", {}),
        ("UserTimedOut", {"user_id": TROLL, "until": "soon"}),
        ("TermBlocked", {"term": "(a)\\1", "match": "regex"}),
        ("TermBlocked", {"term": "!!!", "match": "word"}),
        ("FilterSettingsChanged", {"classifier_level": "extreme"}),
        ("MessageReviewed", {"message_id": "nope", "decision": "approve"}),
        ("MessageFlagged", {"message_id": "nope", "reporter": VIEWER}),
    ]:
        outputs = s.act(2, name, **payload)
        assert len(outputs) == 1 and isinstance(outputs[0], Rejected), (name, outputs)
        assert outputs[0].reason


class Exploding:
    def scores(self, text: Text) -> dict[Category, float]:
        raise ArithmeticError("model fell over")


def test_a_failing_classifier_holds_the_message_for_a_human() -> None:
    state, _ = fold(None, new_event("livefold.stream.Created", stream_id="s", actor_id=STREAMER,
                                    occurred_at=T0, title="t", category="c", tags=[]))  # fmt: skip
    message = new_event("livefold.chat.MessageSent", stream_id="s", actor_id=VIEWER,
                        occurred_at=T0, message_id="m1", text="hello", emotes=[])  # fmt: skip
    state, outputs = fold(state, message, classifier=Exploding())
    (issued,) = events_named(outputs, "VerdictIssued")
    assert verdict(issued.body) == ("hold", "internal_error")
    assert review_queue(state)[0]["detail"].startswith("ArithmeticError")


def test_a_duplicated_event_never_changes_the_state_twice() -> None:
    s = Session()
    s.act(1, "UserTimedOut", user_id=TROLL, until=T0 + timedelta(minutes=1))
    assert s.apply(s.log[-1]) == []
    s.say(2, "hello")
    assert s.apply(s.log[-1]) == []
    assert len(s.facts["modlog"]) == 1 and len(s.facts["_activity"][VIEWER]) == 1


def session_log() -> list[Event]:
    s = Session()
    s.act(1, "TermBlocked", term="zorblat", match="word")
    s.act(2, "ChatModeChanged", slow_seconds=3, emote_only=False, subscribers_only=False)
    texts = ["hi", "z0rblat", "you are an idiot", "gg", "BUY NOW AT SCAM.RU", "gg", "lol"]
    for n in range(300):
        s.say(3 + n * 0.5, texts[n % len(texts)], user=f"u{n % 11}")
        if n % 50 == 10:
            s.apply(s.log[-1])  # a re-delivered message
        if n == 120:
            s.act(70, "UserTimedOut", user_id="u3", until=T0 + timedelta(seconds=90))
        if n == 200:
            held = [i for i in review_queue(s.facts)]
            s.act(110, "MessageReviewed", message_id=held[0]["message_id"], decision="approve")
    return s.log


def test_replaying_the_log_reproduces_every_verdict_and_the_state() -> None:
    log = session_log()

    def replay(events: list[Event], reload_every: int = 0) -> tuple[list[Event], bytes]:
        state: ModerationState | None = None
        emitted: list[Event] = []
        for n, event in enumerate(events):
            state, outputs = fold(state, event)
            emitted += [o for o in outputs if isinstance(o, Event)]
            if reload_every and n % reload_every == 0:
                state = loads(dumps(state))  # stored and restored, as a driver does
        assert state is not None
        return emitted, dumps(facts(state))

    first, state_a = replay(log)
    again, state_b = replay(log, reload_every=37)
    assert [e.body for e in again] == [e.body for e in first]
    assert state_a == state_b
    assert {e.body["verdict"] for e in first} == {"allow", "hold", "block"}
    assert len({e.event_id for e in first}) == len(first)


def test_a_new_state_is_plain_json() -> None:
    state = new_state("s")
    assert loads(dumps(state)) == state


def test_indexed_histories_give_the_verdicts_of_reading_each_history_whole() -> None:
    """`spam.flooding` counts a history by bisection, run of messages in time order by run, when
    the index says it does not hold the key; a copy of the session whose indexes say nothing
    (no keys, no breaks of time order known) reads every history whole, and must decide every
    message alike, including messages sent out of time order (now and then one from the past),
    repeats and changed windows."""
    import random
    from typing import cast

    from livefold.moderation.normalize import check
    from livefold.moderation.spam import history_index
    from livefold.moderation.verdicts import duplicate_key, plain_fingerprint

    def millis(at: float) -> int:
        return int((T0 + timedelta(seconds=at)).timestamp() * 1000)

    rng = random.Random(17)
    indexed, whole = Session(), Session()
    for session in (indexed, whole):
        session.act(1, "FilterSettingsChanged", rate_limit_messages=6, rate_limit_seconds=4,
                    duplicate_window_seconds=10)  # fmt: skip
    at, rules, out_of_order = 2.0, [], 0
    for n in range(1_500):
        at += (
            rng.choice([0.05, 0.2, 0.5, 1.0])
            if rng.random() < 0.93
            else rng.choice([-6, -1.5, -0.3, 25])
        )
        if n == 700:
            for session in (indexed, whole):
                session.act(at, "FilterSettingsChanged", rate_limit_seconds=20,
                            duplicate_window_seconds=3)  # fmt: skip
        user, text = f"u{rng.randrange(4)}", rng.choice(["gg", "hi there", "nice one", "lol"])
        text = text if rng.random() < 0.3 else f"{text} {n}"
        if n % 300 == 299:  # a worker of before the index appended this message, unindexed
            for session in (indexed, whole):
                key = plain_fingerprint(duplicate_key(cast(Text, check(text))))
                session.facts["_activity"].setdefault(user, []).append([millis(at - 0.1), key])
        blind: dict[str, Any] = {"keys": {}}
        whole.facts["_activity_index"] = {u: dict(blind) for u in whole.facts["_activity"]}  # type: ignore[misc]
        decided, read_whole = indexed.say(at, text, user=user), whole.say(at, text, user=user)
        assert {**decided, "event_id": ""} == {**read_whole, "event_id": ""}, n
        rules.append(decided["rule"])
        for u, history in indexed.facts["_activity"].items():
            index, exact = indexed.facts["_activity_index"][u], history_index(history)
            if index["last"] == exact["last"]:  # else stale, and rebuilt before it is used
                assert index["keys"] == exact["keys"], n
                assert [at - index["base"] for at in index["breaks"]] == exact["breaks"], n
            out_of_order += len(exact["breaks"]) > 0
    assert {"clean", "spam_duplicate", "spam_rate"} <= set(rules)
    assert out_of_order
    assert all(rule == "spam_duplicate" for rule in rules[299::300])
