"""Rich text of what agents write (replies, internal notes, a forward's note): Markdown rendered
server-side and sanitised, so what the agent sees in the preview and on the ticket page is
exactly what the customer gets; the readable text part derived from it; images pasted into the
reply box tied to their attachments; and a comment's HTML as mail carries it (inline images as
`cid:` references to related parts, RFC 2392).

Customer mail is never read as Markdown: only agent-written text comes through here.
"""

import html
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import cache

from django.urls import reverse
from markdown_it import MarkdownIt

from tickets.sanitize import clean_html

# Raster images a mail client and a browser show without running anything (no SVG).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@cache
def _parser() -> MarkdownIt:
    # html=False: raw HTML in the source is shown as text, never passed through; markdown-it
    # also refuses javascript:, vbscript: and file: links. nh3 (clean_html) is the second line.
    # breaks=True: a single line break is kept, as agents (and GitHub comments) expect.
    options = {"html": False, "breaks": True, "linkify": False, "typographer": False}
    return MarkdownIt("commonmark", options).enable(["strikethrough", "table"])


def render_markdown(source: str) -> str:
    """Safe HTML for Markdown an agent wrote: the one function the preview, the ticket page
    and the customer's mail all show."""
    if not (source or "").strip():
        return ""
    return clean_html(_parser().render(source))


_IMAGE_RE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_LINK_RE = re.compile(r"(?<!!)\[([^\]\n]+)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_AUTOLINK_RE = re.compile(r"<((?:https?|mailto):[^>\s]+)>")


def text_part(source: str) -> str:
    """The mail's text part for Markdown an agent wrote: the source, which reads well as text,
    with links as "text (url)" and images as "[image: name]"."""
    text = (source or "").replace("\r\n", "\n")  # a browser's form sends CRLF (HTML 4.10.21)
    text = _IMAGE_RE.sub(lambda m: f"[image: {m.group(1) or 'image'}]", text)
    text = _LINK_RE.sub(_link_text, text)
    return _AUTOLINK_RE.sub(r"\1", text)


def _link_text(match: re.Match) -> str:
    label, url = match.group(1), match.group(2)
    target = url.removeprefix("mailto:")
    return label if label.strip() == target else f"{label} ({url})"


# -- images pasted or dropped into the reply box ------------------------------------------------

_CID_SRC_RE = re.compile(r'src="cid:([^"]*)"', re.IGNORECASE)


def reply_html(source: str, uploads: Sequence) -> tuple[str, list]:
    """The reply's HTML and its uploads: an upload the Markdown shows as `![name](cid:<its
    filename>)` (the reply box inserts that on paste or drop) becomes an inline image with a
    Content-ID of its own, which the stored comment links to our copy and the mail carries as
    a related part."""
    body = render_markdown(source)
    by_name = {u.filename: u for u in uploads if u.content_type in INLINE_IMAGE_TYPES}
    inline: dict[str, object] = {}

    def link(match: re.Match) -> str:
        name = html.unescape(match.group(1))
        upload = inline.get(name) or by_name.get(name)
        if upload is None:
            return match.group(0)
        if name not in inline:
            content_id = f"{uuid.uuid4().hex}@inline"
            inline[name] = replace(upload, content_id=content_id, inline=True)  # type: ignore[type-var]  # a dataclass
        return f'src="cid:{html.escape(inline[name].content_id)}"'  # type: ignore[attr-defined]  # an Upload

    body = _CID_SRC_RE.sub(link, body)
    return body, [inline.get(u.filename, u) for u in uploads]


# -- a comment's HTML as mail carries it --------------------------------------------------------


def mail_html(body_html: str, ticket_number: int, attachments: Iterable) -> str:
    """`body_html` with the links to our copies of inline images turned back into `cid:`
    references, so the mail shows them from its related parts (never from our server, which
    the recipient cannot sign in to)."""
    if "/attachments/" not in body_html:
        return body_html
    for attachment in attachments:
        if not (attachment.inline and attachment.content_id):
            continue
        url = reverse("tickets:attachment", args=[ticket_number, attachment.pk])
        cid = html.escape(attachment.content_id)
        body_html = body_html.replace(f'src="{url}"', f'src="cid:{cid}"')
    return body_html


def is_markdown(comment) -> bool:
    """Comments written on the agent workspace are Markdown; mail, portal and API ones not."""
    return bool(comment.author_user_id) and comment.channel == "agent"
