"""What a stream's moderation is configured to do: filter settings (platform defaults that a
stream may override field by field) and chat modes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from livefold.moderation.lexicon import Category
from livefold.moderation.toxicity import Level

SPAM = "spam"  # the category of the spam rules (caps, emotes, mentions, links)
CATEGORIES = (*(category.value for category in Category), SPAM)
UNSTOPPABLE = frozenset({Category.THREAT.value})  # categories a stream cannot turn off


@dataclass(frozen=True, slots=True)
class ChatModes:
    slow_seconds: int = 0
    followers_only_minutes: int | None = None
    emote_only: bool = False
    subscribers_only: bool = False

    @property
    def any_on(self) -> bool:
        return bool(
            self.slow_seconds
            or self.followers_only_minutes is not None
            or self.emote_only
            or self.subscribers_only
        )

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ChatModes:
        minutes = body.get("followers_only_minutes")
        return cls(
            slow_seconds=max(0, int(body.get("slow_seconds") or 0)),
            followers_only_minutes=None if minutes is None else max(0, int(minutes)),
            emote_only=bool(body.get("emote_only")),
            subscribers_only=bool(body.get("subscribers_only")),
        )


@dataclass(frozen=True, slots=True)
class FilterSettings:
    classifier_level: Level = Level.MEDIUM
    links_allowed: bool = False  # False: links outside allowed_domains are held for review
    allowed_domains: frozenset[str] = frozenset()
    duplicate_window_seconds: int = 30
    rate_limit_messages: int = 20  # at most this many messages ...
    rate_limit_seconds: int = 30  # ... per user in this many seconds
    caps_min_letters: int = 15
    caps_ratio: float = 0.8
    max_emotes: int = 12
    max_mentions: int = 5
    category_levels: Mapping[str, Level] = field(default_factory=lambda: MappingProxyType({}))

    def level(self, category: str) -> Level:
        """A category's own level, else the classifier level."""
        return self.category_levels.get(category, self.classifier_level)


@dataclass(frozen=True, slots=True)
class SettingsOverride:
    """The fields a stream set for itself; None means "the platform default"."""

    classifier_level: Level | None = None
    links_allowed: bool | None = None
    allowed_domains: frozenset[str] | None = None
    duplicate_window_seconds: int | None = None
    rate_limit_messages: int | None = None
    rate_limit_seconds: int | None = None
    caps_min_letters: int | None = None
    caps_ratio: float | None = None
    max_emotes: int | None = None
    max_mentions: int | None = None
    category_levels: Mapping[str, Level] | None = None

    def merged(self, newer: SettingsOverride) -> SettingsOverride:
        changed = {f.name: getattr(newer, f.name) for f in fields(newer)}
        if self.category_levels and newer.category_levels is not None:
            changed["category_levels"] = {**self.category_levels, **newer.category_levels}
        return replace(self, **{k: v for k, v in changed.items() if v is not None})

    def over(self, defaults: FilterSettings) -> FilterSettings:
        own = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.category_levels is not None:
            own["category_levels"] = {**defaults.category_levels, **self.category_levels}
        return replace(defaults, **{k: v for k, v in own.items() if v is not None})

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> SettingsOverride:
        """From a FilterSettingsChanged body; out-of-range numbers are clamped, not trusted."""
        level = body.get("classifier_level")
        domains = body.get("allowed_domains")

        def positive(name: str, high: int) -> int | None:
            value = body.get(name)
            return None if value is None else min(high, max(1, int(value)))

        ratio = body.get("caps_ratio")
        links = body.get("links_allowed")
        return cls(
            classifier_level=None if level is None else Level(level),
            links_allowed=None if links is None else bool(links),
            allowed_domains=None if domains is None else frozenset(normalize_domains(domains)),
            duplicate_window_seconds=positive("duplicate_window_seconds", 3600),
            rate_limit_messages=positive("rate_limit_messages", 1000),
            rate_limit_seconds=positive("rate_limit_seconds", 3600),
            caps_min_letters=positive("caps_min_letters", 500),
            caps_ratio=None if ratio is None else min(1.0, max(0.1, float(ratio))),
            max_emotes=positive("max_emotes", 500),
            max_mentions=positive("max_mentions", 500),
            category_levels=category_levels(body.get("category_levels")),
        )


def normalize_domains(domains: Any) -> list[str]:
    return [
        str(d).strip().lower().rstrip(".").removeprefix("www.") for d in domains if str(d).strip()
    ]


def category_levels(levels: Any) -> dict[str, Level] | None:
    """Levels per category from an event body; an unknown category or level, or turning
    threats off, raises ValueError with the reason."""
    if levels is None:
        return None
    if not isinstance(levels, dict):
        raise ValueError("category_levels must map categories to levels")
    parsed: dict[str, Level] = {}
    for category, level in levels.items():
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
        parsed[category] = Level(level)
        if category in UNSTOPPABLE and parsed[category] is Level.OFF:
            raise ValueError(f"{category} cannot be turned off (lowest level: low)")
    return parsed
