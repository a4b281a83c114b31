"""Chat text normalisation and bad input: obfuscation folds away, bad input gets a clear reason,
and nothing a client can send makes `check` raise."""

# ruff: noqa: RUF001  (look-alike letters are what these tests are about)

from __future__ import annotations

import random

import pytest

from livefold.moderation.normalize import MAX_LENGTH, Rejected, Text, check, fold


def folded(raw: str) -> tuple[str, ...]:
    text = check(raw)
    assert isinstance(text, Text), text
    return text.tokens


@pytest.mark.parametrize(
    "raw",
    ["hate", "HATE", "ＨＡＴＥ", "𝐡𝐚𝐭𝐞", "h4te", "h@te", "hâté", "h\u200bate", "hаte",
     "ⓗⓐⓣⓔ", "🅷🅰🆃🅴", "ʰᵃᵗᵉ", "h\u2060ate", "h\u0301a\u0308te", "hατε"],
    ids=["plain", "caps", "fullwidth", "styled", "leet", "at", "accents", "zero-width",
         "cyrillic-a", "enclosed", "negative-squared", "superscript", "word-joiner",
         "combining", "greek"],
)  # fmt: skip
def test_obfuscated_spellings_fold_to_the_same_word(raw: str) -> None:
    assert folded(raw) == ("hate",)


def test_leetspeak_symbols_fold_inside_words_but_punctuation_survives() -> None:
    assert folded("$hit a$$ id!ot") == ("shit", "ass", "idiot")
    assert folded("idiot!!! wow?") == ("idiot", "wow")
    assert folded("c|_|nt |<ys") == ("cunt", "kys")
    assert folded("c*nt *sigh*") == ("c*nt", "sigh")


def test_numbers_stay_numbers_while_digits_inside_words_fold() -> None:
    assert folded("room 455, phone 800-455-1234") == ("room", "455", "phone", "800", "455", "1234")
    assert folded("a55 5h1t 455h0e 1 kn0w") == ("ass", "shit", "asshoe", "i", "know")
    assert folded("ｒｏｏｍ ４５５") == ("room", "455")


def test_i_and_l_and_their_leet_forms_fold_alike_so_terms_and_text_agree() -> None:
    assert folded("kill k1ll ki!l") == fold("kill") * 3


def test_mentions_are_counted_and_kept_out_of_the_words() -> None:
    text = check("@bob @alice you there?")
    assert isinstance(text, Text)
    assert text.mentions == 2
    assert text.tokens == ("you", "there")


def test_the_shown_text_loses_invisible_characters_but_keeps_emoji() -> None:
    text = check("hi\u200b there 👨\u200d👩\u200d👧\ufe0f")
    assert isinstance(text, Text)
    assert text.shown == "hi there 👨\u200d👩\u200d👧\ufe0f"


def test_newlines_and_tabs_become_spaces() -> None:
    text = check("one\ntwo\tthree")
    assert isinstance(text, Text) and text.shown == "one two three"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("hello \u202eevil\u202c world", "bidi_controls"),
        ("\u2067hidden\u2069", "bidi_controls"),
        ("look \u202dhere", "bidi_controls"),
        ("\ufdd0\ufdd1", "noncharacters"),
        ("\uffff", "noncharacters"),
        ("x\U0010ffff", "noncharacters"),
        ("a" + "\u0301" * 40, "combining_marks"),
        ("z" + "\u0351\u0357\u035b\u0302\u0303", "combining_marks"),
        ("\u200c\u200d\u2060\ufeff", "invisible_only"),
        ("\u200e\u200f", "invisible_only"),
    ],
)
def test_unsafe_text_is_refused_and_the_reason_says_which(raw: str, reason: str) -> None:
    rejected = check(raw)
    assert isinstance(rejected, Rejected) and rejected.reason == reason, rejected
    assert rejected.detail


def test_scripts_that_need_a_few_marks_per_letter_pass() -> None:
    for raw in ("Việt Nam", "שָׁלוֹם", "नमस्ते", "ñandú", "a\u0301\u0308\u0323\u0328"):
        assert isinstance(check(raw), Text), raw


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\u200b\u200b\u2060", "invisible_only"),
        ("\u2800", "invisible_only"),
        ("x" * (MAX_LENGTH + 1), "too_long"),
        ("hi\x00", "control_characters"),
        ("\x1b[31mred", "control_characters"),
        ("\x85next line", "control_characters"),
        (b"\xff\xfe", "invalid_utf8"),
        (b"caf\xc3", "invalid_utf8"),
        ("\ud800 lone surrogate", "invalid_utf8"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_reason(raw: str | bytes, reason: str) -> None:
    rejected = check(raw)
    assert isinstance(rejected, Rejected)
    assert rejected.reason == reason
    assert rejected.detail


def test_valid_utf8_bytes_are_accepted_and_500_characters_is_still_fine() -> None:
    assert isinstance(check("café".encode()), Text)
    assert isinstance(check("x" * MAX_LENGTH), Text)


def test_no_input_makes_check_raise() -> None:
    rng = random.Random(2026)
    alphabet = [chr(c) for c in (*range(0, 0x250), *range(0x2000, 0x2070), 0xD800, 0xFEFF)] + [
        "\U0001f600", "\U000e0041", "\ufe0f", "|_|", "@", "$", "*"
    ]  # fmt: skip
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert isinstance(check(raw), Text | Rejected)
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        assert isinstance(check(blob), Text | Rejected)
    assert isinstance(check(None), Rejected)  # type: ignore[arg-type]
