"""HTML we show is HTML we cleaned: one sanitiser (nh3, i.e. ammonia) for mail and every other
HTML a ticket stores.

Allowed: common formatting, tables, a safe subset of inline CSS, images over http(s), cid:
(inline parts, RFC 2392) and data: raster images. Never: scripts, styles, event handlers,
comments, or a data: URL anywhere but an <img> raster (a data: link is a script vector).

Hostile markup can make the sanitiser's parser swallow the rest of a mail: an unclosed <style>
inside MathML/table nesting, or an unclosed <title>, turns every following word into content
that is dropped. The agent must still read the mail, so clean_html compares the words it kept
with a tolerant, linear text extraction of the source, and shows that text (escaped) when too
many words went missing; mail_body_html does the same against the mail's text part.
"""

import html
import re

import nh3

# nh3's tree builder is quadratic in nesting depth (200,000 unclosed <div> took two minutes), so
# HTML nested deeper than this is not sanitised at all: the caller shows the text instead.
MAX_HTML_DEPTH = 400


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TAG_OPEN_CLOSE_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]{0,30})")
# Elements that do not nest (void) or that the HTML parser closes implicitly.
_FLAT_TAGS = _words(
    "br img hr meta input link area base col embed source track wbr param p li td th tr "
    "dd dt option"
)
_TAGS = frozenset(nh3.ALLOWED_TAGS | {"font", "tfoot", "center"})
_TABLE_ATTRS = {"width", "height", "align", "valign", "bgcolor", "colspan", "rowspan"}
_ATTRIBUTES = {
    "*": {"style", "title", "dir", "lang", "align"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor", "summary"},
    "td": _TABLE_ATTRS | {"headers"},
    "th": _TABLE_ATTRS | {"headers", "scope"},
    "tr": {"valign", "bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value"},
    "blockquote": {"cite", "type"},
    "hr": {"width", "size"},
    "time": {"datetime"},
}
_STYLE_PROPERTIES = _words(
    "color background-color font font-family font-size font-weight font-style "
    "text-decoration text-align text-indent vertical-align line-height white-space margin "
    "margin-top margin-right margin-bottom margin-left padding padding-top padding-right "
    "padding-bottom padding-left border border-top border-right border-bottom border-left "
    "border-color border-style border-width border-collapse width height max-width "
    "min-width list-style-type direction"
)
_IMAGE_DATA_RE = re.compile(r"data:image/(?:png|gif|jpe?g|webp|bmp);", re.I)


def html_nesting_ok(source: str) -> bool:
    """False when elements nest deeper than MAX_HTML_DEPTH (too slow to sanitise)."""
    if source.count("<") <= MAX_HTML_DEPTH:
        return True
    depth = 0
    for match in _TAG_OPEN_CLOSE_RE.finditer(source):
        if match.group(2).lower() in _FLAT_TAGS:
            continue
        depth = depth - 1 if match.group(1) else depth + 1
        if depth > MAX_HTML_DEPTH:
            return False
    return True


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    # url_schemes must allow cid: and data: for inline images, but a data: link is a script
    # vector, so data: survives only as an <img> raster image.
    is_data = attr in ("href", "src", "cite") and value.lstrip()[:5].lower() == "data:"
    if is_data and not (tag == "img" and attr == "src" and _IMAGE_DATA_RE.match(value.lstrip())):
        return None
    return value


def _clean_markup(source: str) -> str:
    return nh3.clean(
        source,
        tags=_TAGS,
        clean_content_tags={"script", "style", "title"},
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        filter_style_properties=_STYLE_PROPERTIES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


# Raw-text elements whose content a browser never shows, removed only when they are closed:
# an unclosed one shows what follows (the tolerant reading), it does not swallow it.
_HIDDEN_ELEMENTS = ("script", "style", "title")
_BREAK_TAG_RE = re.compile(
    r"<(?:br|/?(?:p|div|tr|li|h[1-6]|table|blockquote|ul|ol|pre|hr))\b[^<>]{0,5000}>", re.I
)
_ANY_TAG_RE = re.compile(r"</?[a-zA-Z!?][^<>]{0,5000}>")  # bounded, stops at the next "<"
_INLINE_SPACE_RE = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_RUN_RE = re.compile(r"\n{3,}")  # lines are stripped: blank ones are empty
_URL_RE = re.compile(r"(?:https?|mailto|cid):\S+", re.I)
_WORD_RE = re.compile(r"\w{2,}")


def _drop_between(source: str, opener: str, closer: str) -> str:
    """Remove each closed opener...closer span; an unclosed opener is left in place (the tag
    strip removes it). Linear: str.find on a lowered copy, never a backtracking regex."""
    lowered, out, at = source.lower(), [], 0
    while (start := lowered.find(opener, at)) != -1:
        end = lowered.find(closer, start + len(opener))
        if end == -1:
            out.append(source[at : start + len(opener)])
            at = start + len(opener)
        else:
            out.append(source[at:start] + " ")
            at = end + len(closer)
    out.append(source[at:])
    return "".join(out)


def html_visible_text(source: str) -> str:
    """The text of HTML as a tolerant reader sees it: comments and closed script/style/title
    dropped, every tag removed, entities decoded, line breaks at block boundaries."""
    text = _drop_between(source or "", "<!--", "-->")
    for name in _HIDDEN_ELEMENTS:
        text = _drop_between(text, f"<{name}", f"</{name}")
    text = _ANY_TAG_RE.sub(" ", _BREAK_TAG_RE.sub("\n", text))
    lines = (_INLINE_SPACE_RE.sub(" ", line).strip() for line in html.unescape(text).split("\n"))
    return _BLANK_RUN_RE.sub("\n\n", "\n".join(lines)).strip()


def _words_of(text: str) -> set[str]:
    return set(_WORD_RE.findall(_URL_RE.sub(" ", text).lower()))


def _loses_words(shown: str, reference: str, *, share: float) -> bool:
    """True when at least three of the reference's words, and at least `share` of them, do not
    appear in what is shown."""
    expected = _words_of(reference)
    missing = len(expected - _words_of(shown))
    return missing >= 3 and missing >= share * len(expected)


def clean_html(source: str, *, depth_checked: bool = False) -> str:
    """Safe HTML for display; "" for HTML nested too deeply to sanitise in time. When the
    sanitiser's reading of hostile markup hides the text, the text itself, as paragraphs."""
    source = source or ""
    if not depth_checked and not html_nesting_ok(source):
        return ""
    cleaned = _clean_markup(source)
    extracted = html_visible_text(source)
    # The extraction and nh3 agree on well-formed HTML; a gap means markup swallowed text.
    if _loses_words(html_visible_text(cleaned), extracted, share=0.05):
        return text_to_html(extracted)
    return cleaned


def mail_body_html(body_html: str, text: str) -> str:
    """A mail's sanitised HTML, or "" (show the text part) when the HTML shows less than half
    of the text part's words: the agent must read the message whatever its markup did."""
    if body_html and _loses_words(html_visible_text(body_html), text, share=0.5):
        return ""
    return body_html


def text_to_html(text: str) -> str:
    """Plain text as safe HTML paragraphs, line breaks kept."""
    paragraphs = [p for p in (text or "").replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
