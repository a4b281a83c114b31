"""Each rule family on its own: blocked terms, regex rules, the abuse classifier and its levels,
spam, chat modes and user state."""

# ruff: noqa: RUF001  (look-alike letters are what these tests are about)

from __future__ import annotations

import time

import pytest
import re2  # type: ignore[import-untyped]

from livefold.moderation import spam
from livefold.moderation.lexicon import Category
from livefold.moderation.normalize import Text, check
from livefold.moderation.policy import ChatModes, FilterSettings
from livefold.moderation.rules import (
    RegexRejected,
    RegexRule,
    RegexRules,
    TermList,
    Verdict,
    blocked_term,
    regex_rules,
)
from livefold.moderation.scoring import default_scorer
from livefold.moderation.toxicity import Level, judge

BLOCKED = TermList.build(["hate", "ass", "cunt", "cock", "kill yourself"], ["discord.gg"])
NOTHING = TermList.build()


def text(raw: str) -> Text:
    checked = check(raw)
    assert isinstance(checked, Text), checked
    return checked


def blocks(raw: str, allowed: TermList = NOTHING) -> bool:
    return blocked_term(text(raw), BLOCKED, allowed) is not None


@pytest.mark.parametrize(
    "raw",
    ["I hate this", "h4te", "ＨＡＴＥ", "h a t e", "h.a.t.e", "haaaate", "hated it", "HATERS",
     "a$$", "kiss my asss", "c u n t", "c*nt", "k1ll y0urself", "KILL   YOURSELF", "discord.gg/x"],
)  # fmt: skip
def test_blocked_terms_match_however_they_are_disguised(raw: str) -> None:
    assert blocks(raw)


@pytest.mark.parametrize(
    "raw",
    ["Scunthorpe", "assistant", "classic", "cocktail", "cocky", "as if", "assess the damage",
     "bass", "peacock", "Hancock", "I will kill the boss yourself"],
)  # fmt: skip
def test_words_that_contain_a_blocked_term_pass(raw: str) -> None:
    assert not blocks(raw)


def test_an_allowed_term_overrides_a_blocked_one() -> None:
    assert blocks("hate speech")
    assert not blocks("hate speech", allowed=TermList.build(["hate speech"]))
    assert blocks("hate speech and hate", allowed=TermList.build(["hate speech"]))


def test_a_finding_names_the_term_and_blocks() -> None:
    finding = blocked_term(text("h4te"), BLOCKED, NOTHING)
    assert finding is not None
    assert (finding.rule, finding.verdict, finding.score, finding.detail) == (
        "blocked_term",
        Verdict.BLOCK,
        1.0,
        "hate",
    )


def test_regex_rules_match_the_casefolded_and_the_leet_folded_text() -> None:
    rules = RegexRules.compile([RegexRule.compile(r"free\s+v-?bucks")])
    assert rules is not None
    for raw in ("FREE VBUCKS here", "fr33 vbucks", "free v-bucks"):
        t = text(raw)
        assert regex_rules(t.plain, " ".join(t.tokens), rules) is not None, raw
    t = text("free time")
    assert regex_rules(t.plain, " ".join(t.tokens), rules) is None


def test_regex_rules_ask_re2_directly_and_agree_with_its_search() -> None:
    """`rules` asks RE2's compiled pattern itself (a private part of the `re2` package): this
    fails if that changes or stops agreeing with the package's own `search`."""
    patterns = [r"free\s+v-?bucks", r"\b\d{3}[-. ]\d{4}\b", r"(h)(a)+", r"\bcafé\b", r"ü+", r"\b"]
    texts = ["", "FREE VBUCKS", "call 555-1234 now", "hahaha", "un café noir", "üü über", "  "]
    for pattern in patterns:
        rule = RegexRule.compile(pattern)
        any_of = RegexRules.compile([rule])
        assert any_of is not None
        for raw in texts:
            expected = rule.compiled.search(raw) is not None  # type: ignore[attr-defined]
            assert rule.search(raw) is expected, (pattern, raw)
            assert (any_of.first_match(raw) is rule) is expected, (pattern, raw)


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("", "empty"),
        ("a" * 201, "at most 200"),
        (r"(a)\1", "not supported"),
        (r"(?=a)b", "not supported"),
        (r"a{1000}{1000}", "not supported"),
        (r"x*", "matches empty text"),
        (r"\Qabc", "not supported"),
    ],
)
def test_unsafe_or_useless_regex_rules_are_refused(pattern: str, why: str) -> None:
    with pytest.raises(RegexRejected, match=why):
        RegexRule.compile(pattern)


def test_rules_that_cannot_be_searched_as_one_alternation_are_searched_one_by_one() -> None:
    # An older log may hold a rule blocked before such rules were refused: a stream's chat
    # must still be judged, never raise on every message.
    quoted = RegexRule(r"\Qabc", re2.compile(r"\Qabc"))
    rules = RegexRules.compile([quoted, RegexRule.compile(r"free\s+v-?bucks")])
    assert rules is not None
    assert rules.first_match("say abc") is quoted
    assert rules.first_match("free vbucks here") is not None
    assert rules.first_match("hello") is None


def test_a_catastrophic_backtracking_pattern_runs_in_linear_time() -> None:
    rule = RegexRule.compile(r"(a+)+$")
    started = time.perf_counter()
    assert not rule.search("a" * 500 + "!")
    assert time.perf_counter() - started < 0.05  # a backtracking engine takes ages here


def score(raw: str) -> float:
    """The highest category score of every signal combined."""
    return max(default_scorer().scores(text(raw)).values(), default=0.0)


def test_insults_aimed_at_someone_score_high_and_the_same_words_about_nothing_score_low() -> None:
    assert score("you are an idiot") >= 0.6
    assert score("kill yourself") >= 0.85
    for harmless in ("I hate losing", "this game is sick", "this puzzle is stupid",
                     "I'm so stupid lol", "you're not stupid", "you killed it"):  # fmt: skip
        scores = default_scorer().scores(text(harmless))
        assert judge(scores, lambda category: Level.MEDIUM) is None, (harmless, scores)


def test_obfuscation_does_not_hide_abuse_from_the_classifier() -> None:
    for raw in (
        "y0u are an 1d10t",
        "you are so stuuupid",
        "k y s",
        "ｙｏｕ ａｒｅ ａｎ ｉｄｉｏｔ",
    ):
        assert score(raw) >= 0.6, raw


def insult(score: float, level: Level) -> object:
    return judge({Category.INSULT: score}, lambda category: level)


def test_levels_map_a_score_to_hold_or_block() -> None:
    assert insult(0.99, Level.OFF) is None
    assert insult(0.7, Level.LOW) is None
    held = judge({Category.INSULT: 0.7}, lambda category: Level.MEDIUM)
    assert held is not None and held.verdict is Verdict.HOLD and held.rule == "toxicity"
    assert held.detail == "insult"
    blocked = judge({Category.INSULT: 0.7}, lambda category: Level.HIGH)
    assert blocked is not None and blocked.verdict is Verdict.BLOCK
    assert insult(0.45, Level.HIGH) is not None and insult(0.45, Level.MEDIUM) is None


def test_each_category_has_its_own_level_and_threats_cannot_be_turned_off() -> None:
    scores = {Category.PROFANITY: 0.8, Category.THREAT: 0.95}
    levels = {Category.PROFANITY: Level.OFF, Category.THREAT: Level.OFF}
    found = judge(scores, levels.__getitem__)
    assert found is not None and found.detail == "threat" and found.verdict is Verdict.BLOCK
    swearing = judge({Category.PROFANITY: 0.8}, levels.__getitem__)
    assert swearing is None
    assert judge({Category.PROFANITY: 0.8}, lambda category: Level.MEDIUM) is not None


SETTINGS = FilterSettings(allowed_domains=frozenset({"livefold.tv"}))


def test_duplicates_and_message_rate_per_user_are_spam() -> None:
    history = [(1_000, "hello"), (2_000, "world")]
    dup = spam.flooding(history, "hello", 20_000, SETTINGS)
    assert dup is not None and dup.rule == "spam_duplicate"
    assert spam.flooding(history, "hello", 40_000, SETTINGS) is None
    busy = [(i * 1000, f"m{i}") for i in range(20)]
    rate = spam.flooding(busy, "new", 20_500, SETTINGS)
    assert rate is not None and rate.rule == "spam_rate"
    assert spam.flooding(busy[1:], "new", 20_500, SETTINGS) is None


def test_caps_emotes_and_mentions_beyond_limits_are_spam() -> None:
    caps = spam.shape("THIS IS THE BEST STREAM EVER", 0, 0, SETTINGS)
    assert caps is not None and caps.rule == "spam_caps"
    assert spam.shape("LETS GOOOO", 0, 0, SETTINGS) is None
    emotes = spam.shape("x", spam.count_emotes("Kappa " * 13, {"Kappa"}), 0, SETTINGS)
    assert emotes is not None and emotes.rule == "spam_emotes"
    assert spam.count_emotes("🔥🔥🔥 Kappa", {"Kappa"}) == 4
    mentions = spam.shape("hi", 0, 6, SETTINGS)
    assert mentions is not None and mentions.rule == "spam_mentions"


@pytest.mark.parametrize(
    ("raw", "held"),
    [("see bit.ly/abc", True), ("www.scam.ru", True), ("https://evil.example.com/x", True),
     ("scam(.)com", True), ("livefold.tv/vod", False), ("https://clips.livefold.tv/x", False),
     ("e.g. this", False), ("v1.2.3", False), ("node.js", False)],
)  # fmt: skip
def test_links_outside_the_allowed_domains_are_held(raw: str, held: bool) -> None:
    finding = spam.links(text(raw).plain, SETTINGS)
    assert (finding is not None and finding.verdict is Verdict.HOLD) is held
    assert spam.links(text(raw).plain, FilterSettings(links_allowed=True)) is None


def modes_finding(modes: ChatModes, **facts: object) -> str | None:
    given: dict[str, object] = {
        "followed_at": None,
        "badges": (),
        "last_message_at": None,
        "is_emote_only": False,
        **facts,
    }
    finding = spam.chat_modes(modes, 100_000_000, **given)  # type: ignore[arg-type]
    return None if finding is None else finding.rule


def test_chat_modes() -> None:
    slow = ChatModes(slow_seconds=10)
    assert modes_finding(slow, last_message_at=100_000_000 - 3_000) == "slow_mode"
    assert modes_finding(slow, last_message_at=100_000_000 - 10_000) is None
    followers = ChatModes(followers_only_minutes=10)
    assert modes_finding(followers) == "followers_only"
    assert modes_finding(followers, followed_at=100_000_000 - 60_000) == "followers_only"
    assert modes_finding(followers, followed_at=100_000_000 - 600_000) is None
    assert modes_finding(ChatModes(emote_only=True)) == "emote_only"
    assert modes_finding(ChatModes(emote_only=True), is_emote_only=True) is None
    assert spam.emote_only("Kappa 😂 !!", {"Kappa"}) and not spam.emote_only("hi Kappa", {"Kappa"})
    assert modes_finding(ChatModes(subscribers_only=True)) == "subscribers_only"
    assert modes_finding(ChatModes(subscribers_only=True), badges=("subscriber",)) is None
    assert modes_finding(ChatModes()) is None


def test_user_state() -> None:
    def rule(user: str, now: int) -> str | None:
        finding = spam.user_state(user, now, {"banned"}, {"quiet": 5_000}, {"blocked"})
        return None if finding is None else finding.rule

    assert rule("banned", 0) == "banned"
    assert rule("quiet", 4_999) == "timed_out"
    assert rule("quiet", 5_000) is None
    assert rule("blocked", 0) == "blocked_user"
    assert rule("anyone", 0) is None


def test_walls_mass_pings_and_scam_offers_are_spam_and_ordinary_talk_is_not() -> None:
    for wall in ("lol " * 10, "hahahahahahahahahahahaha", "W W W W W W W W W W"):
        found = spam.shape(wall, 0, 0, SETTINGS)
        assert found is not None and found.rule == "spam_repetition", wall
    assert spam.shape("@everyone free stuff", 0, 0, SETTINGS) is not None
    for offer in ("free robux in bio", "dm me for cheap coins", "go to giftcards dot com"):
        found = spam.scam(offer)
        assert found is not None and found.verdict is Verdict.HOLD, offer
    for talk in ("gg everyone that was fun", "lol lol", "the skins are free this week",
                 "dm me for a duo", "free to play game"):  # fmt: skip
        assert spam.shape(talk, 0, 0, SETTINGS) is None and spam.scam(talk) is None, talk
