"""HTML we show is HTML we cleaned: one sanitiser (nh3, i.e. ammonia) for mail and every other
HTML a ticket stores.

Allowed: common formatting, tables, a safe subset of inline CSS, images over http(s), cid:
(inline parts, RFC 2392) and data: raster images. Never: scripts, styles, event handlers,
comments, or a data: URL anywhere but an <img> raster (a data: link is a script vector).
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


def clean_html(source: str, *, depth_checked: bool = False) -> str:
    """Safe HTML for display; "" for HTML nested too deeply to sanitise in time."""
    source = source or ""
    if not depth_checked and not html_nesting_ok(source):
        return ""
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


def text_to_html(text: str) -> str:
    """Plain text as safe HTML paragraphs, line breaks kept."""
    paragraphs = [p for p in (text or "").replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
