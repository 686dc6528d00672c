"""HTML we show is HTML we cleaned: nh3 (ammonia) with an allow-list, links made inert."""

import html

import nh3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "div",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "center",
    "del",
    "ins",
    "dl",
    "dt",
    "dd",
    "caption",
    "col",
    "colgroup",
    "q",
    "cite",
    "kbd",
    "mark",
    "figure",
}
ALLOWED_ATTRIBUTES = {
    "*": {"title", "align", "dir", "lang"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "valign", "width"},
    "th": {"colspan", "rowspan", "valign", "width"},
    "table": {"width", "cellpadding", "cellspacing", "border"},
    "font": {"color"},
}
URL_SCHEMES = {"http", "https", "mailto", "cid", "data", "tel"}


def clean_html(value: str) -> str:
    return nh3.clean(
        value or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def text_to_html(text: str) -> str:
    """Plain text as safe HTML paragraphs, line breaks kept."""
    paragraphs = [p for p in (text or "").replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
