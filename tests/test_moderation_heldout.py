"""The held-out corpus (tests/data/moderation_heldout.jsonl): ~700 live-chat lines written
from the issue's families alone, before the lexicon was read, and frozen before any tuning
(its own commit says so). Judged through the fold under default settings (level medium, no
terms of the stream's own); the share stopped per family is printed (pytest -s).

Goals (issue #16): at least 90% of what must be stopped is stopped, at least 85% in every
family, and at most 2% of clean lines and traps are stopped."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from livefold.moderation import corpus

HELDOUT = Path(__file__).parent / "data" / "moderation_heldout.jsonl"
# The frozen file: changing a line (to make a number look better) fails here first.
FROZEN_SHA256 = "77d853f3cde32c7c969a37647b2f9350cc0b1c8309f3b9f3e6162be551827618"
# Every line's verdict, rule and score under default settings, as one digest (a digest, so the
# lines' own results stay unread): changes that only make moderation faster must leave it as it
# is. A deliberate change of the rules updates it, saying so in its commit.
VERDICTS_SHA256 = "0c7aa55596b4ff431ae08f2ff1df82f7b7c9b5e0a982d2f1ea9110a42c5c9a42"
STOP_FAMILIES = ("threat", "profanity", "insult", "obfuscation", "spam", "unsafe")


def test_the_held_out_corpus_is_frozen_and_covers_every_family() -> None:
    assert hashlib.sha256(HELDOUT.read_bytes()).hexdigest() == FROZEN_SHA256
    lines = corpus.load(HELDOUT)
    assert len(lines) >= 600
    families = Counter(line["family"] for line in lines)
    assert set(families) == {*STOP_FAMILIES, "clean", "trap"}
    assert families["clean"] + families["trap"] >= 0.4 * len(lines)


def test_default_settings_stop_what_must_be_stopped_and_let_chat_through() -> None:
    judged = corpus.judge(corpus.load(HELDOUT), corpus.default_setup_events())
    families, table = corpus.stop_table(judged)
    print("\n" + table)
    stop = [j for j in judged if j.line["expect"] == "stop"]
    assert sum(map(corpus.stopped, stop)) / len(stop) >= 0.9
    for family in STOP_FAMILIES:
        right, total = families[family]
        assert right / total >= 0.85, (family, right, total)
    clean = [j for j in judged if j.line["expect"] == "allow"]
    assert sum(map(corpus.stopped, clean)) / len(clean) <= 0.02


def test_the_verdict_on_every_held_out_line_is_pinned() -> None:
    judged = corpus.judge(corpus.load(HELDOUT), corpus.default_setup_events())
    verdicts = "".join(f"{j.verdict} {j.rule} {j.score}\n" for j in judged)
    assert hashlib.sha256(verdicts.encode()).hexdigest() == VERDICTS_SHA256
