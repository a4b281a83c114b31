"""Rules about who may chat and how much: user state (bans, time-outs, the streamer's blocked
users), chat modes, and spam (duplicates, rate, caps, emotes, mentions, links). Each is pure:
times are epoch milliseconds taken from events, never from the clock."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, TypedDict

from livefold.moderation.policy import ChatModes, FilterSettings
from livefold.moderation.rules import Finding, Verdict

SUBSCRIBER_BADGES = frozenset({"subscriber", "founder"})


def user_state(
    user_id: str,
    now: int,
    banned: Collection[str],
    timeouts: Mapping[str, int],
    blocked_users: Collection[str],
) -> Finding | None:
    if user_id in banned:
        return Finding("banned", Verdict.BLOCK, 1.0)
    until = timeouts.get(user_id)
    if until is not None and now < until:
        return Finding("timed_out", Verdict.BLOCK, 1.0, f"until {until}")
    if user_id in blocked_users:
        return Finding("blocked_user", Verdict.BLOCK, 1.0)
    return None


def chat_modes(
    modes: ChatModes,
    now: int,
    *,
    followed_at: int | None,
    badges: Collection[str],
    last_message_at: int | None,
    is_emote_only: bool,
) -> Finding | None:
    if modes.subscribers_only and SUBSCRIBER_BADGES.isdisjoint(badges):
        return Finding("subscribers_only", Verdict.BLOCK, 1.0)
    minutes = modes.followers_only_minutes
    if minutes is not None and (followed_at is None or now - followed_at < minutes * 60_000):
        return Finding("followers_only", Verdict.BLOCK, 1.0)
    if modes.emote_only and not is_emote_only:
        return Finding("emote_only", Verdict.BLOCK, 1.0)
    if (
        modes.slow_seconds
        and last_message_at is not None
        and now - last_message_at < modes.slow_seconds * 1000
    ):
        wait = (last_message_at + modes.slow_seconds * 1000 - now + 999) // 1000
        return Finding("slow_mode", Verdict.BLOCK, 1.0, f"wait {wait}s")
    return None


def emote_only(shown: str, emote_names: Iterable[str]) -> bool:
    """Nothing but emotes, emoji, punctuation and spaces."""
    names = set(emote_names)
    return not any(word not in names and any(c.isalnum() for c in word) for word in shown.split())


def count_emotes(shown: str, emote_names: Collection[str]) -> int:
    names = emote_names if isinstance(emote_names, (set, frozenset)) else set(emote_names)
    count = sum(word in names for word in shown.split()) if names else 0
    if not shown.isascii():
        count += sum(unicodedata.category(c) == "So" for c in shown)
    return count


class HistoryIndex(TypedDict):
    """What a user's history (`flooding`) holds, kept next to it so a message's check need not
    read it all: where its time order breaks (the positions of messages older than the one
    before them, counted from the first message ever indexed; `base` is the position of the
    oldest kept), how often each key is in it (never less than it holds), and its newest
    message as indexed (another newest one: appended by code that did not index it, so the
    index is rebuilt)."""

    base: int
    breaks: list[int]
    keys: dict[str, int]
    last: list[Any] | None


_SENT_AT = itemgetter(0)
_MOST_BREAKS = 256  # past this many, reading the history whole costs about as much


def flooding(
    user_history: Sequence[Sequence[Any]],
    key: str,
    now: int,
    settings: FilterSettings,
    index: HistoryIndex | None = None,
) -> Finding | None:
    """Duplicates and rate, from the user's recent (not blocked) messages, oldest first.

    The reading goes back from the newest message to the first older than both windows. With
    the `index`, a history that does not hold the key is counted by bisection in each run of
    messages in time order, newest run first: the same finding, without reading a flooding
    user's thousands of messages per message."""
    if not user_history:
        return None
    duplicate_since = now - settings.duplicate_window_seconds * 1000
    rate_since = now - settings.rate_limit_seconds * 1000
    oldest_needed = min(duplicate_since, rate_since)
    if (
        index is not None
        and "base" in index
        and len(index["breaks"]) <= _MOST_BREAKS
        and index.get("last") == user_history[-1]
        and not index["keys"].get(key)
    ):
        recent, end, base = 0, len(user_history), index["base"]
        for start in reversed([0, *(at - base for at in index["breaks"])]):
            recent += end - bisect_left(user_history, rate_since, start, end, key=_SENT_AT)
            if user_history[start][0] < oldest_needed:
                break  # the reading stops in this run
            end = start
    else:
        recent = 0
        for at, earlier_key in reversed(user_history):
            if at < oldest_needed:
                break
            if at >= duplicate_since and earlier_key == key:
                return Finding("spam_duplicate", Verdict.BLOCK, 1.0)
            if at >= rate_since:
                recent += 1
    if recent >= settings.rate_limit_messages:
        return Finding(
            "spam_rate", Verdict.BLOCK, 1.0, f"{recent} messages in {settings.rate_limit_seconds}s"
        )
    return None


def history_index(history: Sequence[Sequence[Any]]) -> HistoryIndex:
    """The index of a history kept without one (a state from before it)."""
    keys: dict[str, int] = {}
    for _, key in history:
        keys[key] = keys.get(key, 0) + 1
    breaks = [at for at in range(1, len(history)) if history[at][0] < history[at - 1][0]]
    last = list(history[-1]) if history else None
    return HistoryIndex(base=0, breaks=breaks, keys=keys, last=last)


def current(index: HistoryIndex | None, history: Sequence[Sequence[Any]]) -> HistoryIndex:
    """`index` if it indexes `history` as it is, else a new one."""
    last = list(history[-1]) if history else None
    if index is not None and "base" in index and index.get("last") == last:
        return index
    return history_index(history)


def appended(index: HistoryIndex, history: Sequence[Sequence[Any]], now: int, key: str) -> None:
    """Index a message about to be appended to `history`."""
    if history and now < history[-1][0]:
        index["breaks"].append(index["base"] + len(history))
    keys = index["keys"]
    keys[key] = keys.get(key, 0) + 1
    index["last"] = [now, key]


def dropped(index: HistoryIndex, oldest: Sequence[Sequence[Any]]) -> None:
    """Unindex the oldest messages dropped from a history."""
    keys = index["keys"]
    for _, key in oldest:
        count = keys.get(key, 0) - 1
        if count > 0:
            keys[key] = count
        else:
            keys.pop(key, None)
    base = index["base"] = index["base"] + len(oldest)
    breaks = index["breaks"]
    kept = bisect_right(breaks, base)  # a break at the oldest kept message starts no run
    if kept:
        del breaks[:kept]


def shape(shown: str, emotes: int, mentions: int, settings: FilterSettings) -> Finding | None:
    if emotes > settings.max_emotes:
        return Finding("spam_emotes", Verdict.BLOCK, 1.0, f"{emotes} emotes")
    if mentions > settings.max_mentions:
        return Finding("spam_mentions", Verdict.BLOCK, 1.0, f"{mentions} mentions")
    if "@" in shown and _MASS_PING.search(shown):
        return Finding("spam_mentions", Verdict.BLOCK, 1.0, "@everyone or @here")
    if len(shown) < min(settings.caps_min_letters, _REPEATED_LENGTH):
        return None
    upper, letters = _cased_letters(shown)
    if letters >= settings.caps_min_letters and upper >= settings.caps_ratio * letters:
        return Finding("spam_caps", Verdict.BLOCK, round(upper / letters, 4))
    return repetition(shown)


_ASCII_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_ASCII_LOWER = bytes(range(ord("a"), ord("z") + 1))


def _cased_letters(shown: str) -> tuple[int, int]:
    """(upper case letters, upper and lower case letters); ASCII text counted in C."""
    if shown.isascii():
        encoded = shown.encode()
        upper = len(encoded) - len(encoded.translate(None, _ASCII_UPPER))
        return upper, upper + len(encoded) - len(encoded.translate(None, _ASCII_LOWER))
    upper = sum(map(str.isupper, shown))
    return upper, upper + sum(map(str.islower, shown))


# Walls: one word (an emote's name, "lol") again and again, one character or a short unit
# ("haha") stretched over a line.
_REPEATED_WORDS = 8  # words in a message before its variety is judged
_VARIETY = 0.35  # at most this share of distinct words in a wall
_REPEATED_LENGTH = 20  # characters of one repeated unit that make a wall
_WALL = re.compile(r"(.{1,6}?)\1{3,}")
_MASS_PING = re.compile(r"(?<![\w@])@(?:everyone|here)\b", re.IGNORECASE)


def repetition(shown: str) -> Finding | None:
    words = shown.split()
    if len(words) >= _REPEATED_WORDS and len(set(shown.casefold().split())) <= _VARIETY * len(
        words
    ):
        return Finding("spam_repetition", Verdict.BLOCK, 1.0, f"{len(words)} words, few distinct")
    for word in words:  # a wall of short words was caught above: here, one long "word"
        if len(word) >= _REPEATED_LENGTH:
            for wall in _WALL.finditer(word):
                if len(wall.group()) >= _REPEATED_LENGTH:
                    unit = wall.group(1)
                    return Finding("spam_repetition", Verdict.BLOCK, 1.0, f"{unit!r} repeated")
    return None


_TLDS = (
    "com|net|org|io|gg|tv|ly|me|co|xyz|ru|info|biz|link|live|app|dev|site|online|shop|club|top"
    "|us|uk|de|fr|cn|tk|ml|ga|cf|gq|click|icu|vip|win|bid|stream|cc|su|to|is|be|sh|pw"
    "|gl|gd|ws|fm|ai|lol|zip|mov|pro|nu"
)
_LINK = re.compile(
    r"(?:https?://|www\.)([^\s/?#:]+)"
    rf"|(?<![\w@.-])((?:[a-z0-9-]+\.)+(?:{_TLDS}))(?![\w-])"
)
_DOT_TRICKS = re.compile(r"\s*(?:\(\.\)|\[\.\]|\(dot\)|\[dot\]|\{dot\})\s*")


# The shapes of chat scams: free currency or followers, "link in bio", "dm me", a link spelled
# out with "dot". Held for a moderator, like a link.
_SCAM = re.compile(
    r"\b(?:free|cheap)\s+(?:robux|v-?bucks|nitro|followers|viewers|subs|gift\s?cards?|crypto|"
    r"bitcoin|btc|eth)\b"
    r"|\bcheap\s+(?:coins|gold|accounts?|skins|boosting)\b"
    r"|\blink\s+in\s+(?:my\s+)?bio\b|\b(?:check|visit)\s+(?:out\s+)?my\s+(?:bio|profile|channel)\b"
    r"|\bdm\s+me\s+for\s+(?:cheap|free|discount|prices?|deals?|promo|followers|coins|robux)\b"
    r"|\b[a-z0-9-]{3,}\s+dot\s+(?:com|net|org|ru|xyz|gg|io|tv|me|co)\b"
)


# Every shape of _SCAM starts with one of these: text without any of them cannot match.
_SCAM_WORDS = ("free", "cheap", "link", "check", "visit", "dm", "dot")


def scam(plain: str) -> Finding | None:
    if not any(word in plain for word in _SCAM_WORDS):
        return None
    found = _SCAM.search(plain)
    return None if found is None else Finding("spam_scam", Verdict.HOLD, 0.9, found.group())


def links(plain: str, settings: FilterSettings) -> Finding | None:
    if settings.links_allowed or ("." not in plain and "dot" not in plain):
        return None
    text = _DOT_TRICKS.sub(".", plain) if "(" in plain or "[" in plain or "{" in plain else plain
    for match in _LINK.finditer(text):
        host = (match.group(1) or match.group(2) or "").rstrip(".").removeprefix("www.")
        if not _allowed(host, settings.allowed_domains):
            return Finding("spam_link", Verdict.HOLD, 0.9, host)
    return None


def _allowed(host: str, domains: Collection[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)
