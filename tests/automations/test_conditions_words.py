"""The word conditions' shortcut (a set of the text's words, one expression for the rest)
decides exactly as a whole-word search for each word would, on random words and texts."""

from datetime import UTC, datetime

import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from automations.conditions import compile_conditions
from automations.facts import Facts, TenantLookups, fold
from automations.schema import Field, Op
from tickets.models import Ticket

# Letters with and without marks, a decomposed accent, a vowel sign, digits, "_", "-", "+",
# "#", "'", "ß" and its capital, spaces and a line break: the places words begin and end.
PIECE = st.sampled_from([*"abcAB9_-+#'ßẞéÉ ", "e\u0301", "\u093f", "ह", "\n", "  "])
WORD = st.lists(PIECE, min_size=1, max_size=6).map("".join).filter(str.strip)


def reference(words: list[str], text: str) -> bool:
    """A search per word: its folded parts, whitespace between, no word character around."""
    folded = fold(text)
    for word in words:
        parts = fold(word).split()
        body = r"\s+".join(regex.escape(p) for p in parts)
        if parts and regex.search(rf"(?<!\w){body}(?!\w)", folded):
            return True
    return False


def decided(words: list[str], text: str) -> bool:
    facts = Facts(
        ticket=Ticket(subject=""),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        lookups=TenantLookups(0),  # never asked: words need no lookup
        comment_text=text,
    )
    condition = {"field": Field.COMMENT_TEXT, "op": Op.CONTAINS_ANY, "value": words}
    return compile_conditions({"all": [condition]}).matches(facts)


@settings(max_examples=600, deadline=None)
@given(
    words=st.lists(WORD, min_size=1, max_size=4),
    text=st.lists(st.one_of(WORD, PIECE), max_size=12).map("".join),
)
def test_the_shortcut_decides_like_a_search_per_word(words, text):
    assert decided(words, text) == reference(words, text)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(WORD, min_size=1, max_size=4), data=st.data())
def test_a_word_in_capitals_between_punctuation_decides_like_the_search(words, data):
    word = data.draw(st.sampled_from(words))
    text = data.draw(st.sampled_from(["", "x ", "(", "\n"])) + word.upper()
    text += data.draw(st.sampled_from(["", " x", ".", "!\n"]))
    assert decided(words, text) == reference(words, text)
