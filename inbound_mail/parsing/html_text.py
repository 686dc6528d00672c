"""HTML to plain text (html_to_text, _HtmlToText) and the HTML sanitiser the parser uses."""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser

import nh3

from tickets.sanitize import clean_html, html_nesting_ok


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BLOCK_TAGS = _words(
    "address article aside blockquote center dd div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody "
    "tfoot thead tr ul"
)
_PARAGRAPH_TAGS = _words("p h1 h2 h3 h4 h5 h6 table ul ol blockquote pre")
_SKIP_TAGS = _words("script style head title template xml")
_TEXT_TAGS = _BLOCK_TAGS | {"br", "td", "th", "body"}
_SPACE_RE = re.compile(r"\s+")


class _HtmlToText(HTMLParser):
    """Block elements become line breaks, <br> a newline, script/style/head are dropped,
    and blockquote content is prefixed with "> " so reply stripping works on
    HTML-only mail the same way as on plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.buf: list[str] = []
        self.quote_depth = 0
        self.skip_depth = 0
        self.pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skip_depth = 0  # a <head> that was never closed
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag == "br":
            self._newline()
        elif tag in _BLOCK_TAGS:
            self._newline()
            self._enter_block(tag)
        elif tag in ("td", "th"):
            self.buf.append(" ")

    def _enter_block(self, tag: str) -> None:
        if tag == "blockquote":
            self.quote_depth += 1
        elif tag == "li":
            self.buf.append("- ")
        elif tag == "pre":
            self.pre_depth += 1
        elif tag == "hr":
            self.lines.append("> " * self.quote_depth + "---")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._newline()
            if tag in _PARAGRAPH_TAGS:
                self.lines.append("> " * self.quote_depth)
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._newline()
        elif tag == "hr":
            self._newline()
            self.lines.append("> " * self.quote_depth + "---")

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            first, *rest = data.split("\n")
            self.buf.append(first)
            for line in rest:
                self._newline()
                self.buf.append(line)
        else:
            self.buf.append(_SPACE_RE.sub(" ", data))

    def _newline(self) -> None:
        line = "".join(self.buf)
        self.buf.clear()
        line = line.rstrip() if self.pre_depth else line.strip()
        self.lines.append("> " * self.quote_depth + line)

    def result(self) -> str:
        self._newline()
        lines = _trim_quote_edges([line.rstrip() for line in self.lines])
        return _collapse_blank_lines("\n".join(lines)).strip("\n")


def _trim_quote_edges(lines: list[str]) -> list[str]:
    """Drop empty quoted lines (">") at the start and end of a quote block, which the
    paragraph spacing inside <blockquote> would otherwise leave behind."""
    following = [""] * (len(lines) + 1)  # next line that is not an empty quoted line
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        following[index] = following[index + 1] if _is_empty_quote(line) else line
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _is_empty_quote(line):
            before = kept[-1] if kept else ""
            inside = before.startswith(">") and not _is_empty_quote(before)
            if not (inside and following[index + 1].startswith(">")):
                continue
        kept.append(line)
    return kept


def _is_empty_quote(line: str) -> bool:
    return bool(line) and not line.strip("> ")


_BLANK_LINES_RE = re.compile(r"\n(?:[ \t]*\n){2,}")
_QUOTED_BLANKS_RE = re.compile(r"(\n>[> ]*)(?:\n>[> ]*)+(?=\n)")
_TAG_RE = re.compile(r"<[^<>]{0,5000}>")  # bounded, stops at the next "<": linear


def _collapse_blank_lines(text: str) -> str:
    text = _BLANK_LINES_RE.sub("\n\n", text)
    return _QUOTED_BLANKS_RE.sub(r"\1", text)


def html_to_text(source: str, *, sanitized: bool = False) -> str:
    """Plain text from HTML. html.parser is quadratic on some malformed input (a run
    of unterminated "<a " took minutes), so it only ever reads nh3's well-formed
    output; HTML too deeply nested for nh3 gets a linear tag strip instead."""
    if not sanitized:
        if not html_nesting_ok(source):
            return _strip_tags(source)
        source = nh3.clean(
            source,
            tags=_TEXT_TAGS,
            clean_content_tags={"script", "style", "title"},
            attributes={},
            link_rel=None,
        )
    parser = _HtmlToText()
    try:
        parser.feed(source)
        parser.close()
        return parser.result()
    except Exception:  # the converter must never fail a parse
        return _strip_tags(source)


def _strip_tags(source: str) -> str:
    text = html_lib.unescape(_TAG_RE.sub(" ", source))
    return _collapse_blank_lines(_SPACE_RE.sub(" ", text)).strip()


# The one sanitiser of the project lives with the tickets it protects; the parser uses it.
sanitize_html = clean_html
