"""Highlighted text that can carry no markup from a mail: the engines put private-use
characters around matched words (never HTML), `marked_html` escapes the whole text and only
then turns the markers into <mark> elements, balanced however the markers fell (a mail may
contain the characters itself)."""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

START = "\ue000"
END = "\ue001"


def marked_html(text: str) -> SafeString:
    parts: list[str] = []
    open_mark = False
    for piece in _split(text or ""):
        if piece == START:
            if not open_mark:
                parts.append("<mark>")
                open_mark = True
        elif piece == END:
            if open_mark:
                parts.append("</mark>")
                open_mark = False
        else:
            parts.append(escape(piece))
    if open_mark:
        parts.append("</mark>")
    return mark_safe("".join(parts))  # noqa: S308  # every piece of text was escaped above


def _split(text: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch in (START, END):
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(ch)
        else:
            current.append(ch)
    if current:
        pieces.append("".join(current))
    return pieces


def plain(text: str) -> str:
    """The text without markers (for a title attribute or a plain-text answer)."""
    return (text or "").replace(START, "").replace(END, "")
