"""What characters read as in Latin, from the two libraries' data (confusable-homoglyphs'
copy of Unicode's confusables, anyascii): fails if an upgrade changes what we rely on."""

# ruff: noqa: RUF001  (look-alike letters are what these tests are about)

from __future__ import annotations

import pytest

from livefold.moderation import letters


@pytest.mark.parametrize(
    ("char", "latin"),
    [("а", "a"), ("с", "c"), ("і", "i"), ("ο", "o"), ("ɑ", "a"), ("𝐟", "f"), ("🅵", "f"),
     ("🆄", "u"), ("μ", "u"), ("ν", "v"), ("к", "k"), ("ᴋ", "k")],
)  # fmt: skip
def test_lookalike_and_styled_letters_read_as_latin(char: str, latin: str) -> None:
    assert letters.reads_as(char) == latin


@pytest.mark.parametrize("char", ["中", "😂", "م", "あ", "!", "€"])
def test_other_scripts_emoji_and_symbols_stay_as_they_are(char: str) -> None:
    assert letters.reads_as(char) == char


def test_the_confusables_data_is_where_and_what_we_read() -> None:
    data = letters._DATA
    assert len(data) > 9_000
    assert [glyph["c"] for glyph in data["с"]] == ["c"]


def test_the_translate_table_fills_itself_as_characters_come() -> None:
    table = letters.LatinTable()
    assert letters.to_latin("сat", table) == "cat"
    assert ord("с") in table
    assert letters.to_latin("plain", table) == "plain"
