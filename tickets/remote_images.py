"""Remote images in mail, blocked when a message is shown, as privacy-minded mail clients do.

A remote image tells its sender that, when and from where a mail was read (a tracking pixel),
so the ticket page never loads one: at render time, not in the stored HTML, every `<img>`
whose source is on another host becomes a small "Image blocked" box keeping the URL in
`data-blocked-src`. Inline `cid:` parts (linked to our attachment view when stored), `data:`
rasters and our own paths stay. An agent shows one message's images in a frame with its own
policy (a fragment swapped into the page would still be under the page's policy), or always
for a sender's address or domain (RemoteImageSender, per tenant).

The HTML reaching here is nh3's output (tickets.sanitize): no scripts, no srcset, no CSS
url() survives its style filter; the page's Content-Security-Policy stays the backstop.
"""

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from tickets.models import Comment, RemoteImageSender, Ticket

# A source a browser resolves against another host: a scheme other than ours (nh3 keeps only
# http, https, cid and data on images), or scheme-relative (`//host`, and `/\host`, which
# browsers read the same: WHATWG URL treats "\" as "/" in special schemes).
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_LOCAL_SCHEMES = frozenset({"cid", "data"})
# Leading C0 controls and spaces are stripped by URL parsers before they read the scheme.
_URL_STRIP = "".join(chr(c) for c in range(0x21))


def is_remote(src: str) -> bool:
    """True when loading `src` would ask another host."""
    value = (src or "").lstrip(_URL_STRIP).replace("\\", "/")
    if value.startswith("//"):
        return True
    scheme = _SCHEME_RE.match(value)
    return scheme is not None and scheme.group(1).lower() not in _LOCAL_SCHEMES


def _host(src: str) -> str:
    value = src.strip().replace("\\", "/")
    try:
        return urlsplit(value if "://" in value else "http:" + value).hostname or "another site"
    except ValueError:
        return "another site"


def origin(src: str) -> str:
    """`scheme://host[:port]` of an http(s) source; "" when it has none."""
    value = src.strip().replace("\\", "/")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return f"{parts.scheme.lower()}://{parts.hostname}" + (f":{port}" if port else "")


def placeholder(src: str, alt: str) -> str:
    label = (alt or "").strip() or _host(src)
    url = html.escape(src, quote=True)
    return (
        f'<span class="image-blocked" role="img" data-blocked-src="{url}" title="{url}">'
        f"Image blocked: {html.escape(label)}</span>"
    )


class _Rewriter(HTMLParser):
    """Re-emits the markup as it came, but for remote images, which become placeholders."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.sources: list[str] = []

    def _image(self, attrs) -> bool:
        values = dict(attrs)
        src = values.get("src") or ""
        if not is_remote(src):
            return False
        self.sources.append(src)
        self.out.append(placeholder(src, values.get("alt") or ""))
        return True

    def handle_starttag(self, tag, attrs):
        if not (tag == "img" and self._image(attrs)):
            self.out.append(self.get_starttag_text() or "")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        # nh3 escapes "<" in text: one here is a cut-off tag the parser gave up on (`<img
        # src="https://...` at the very end), which must not reach the page as markup.
        self.out.append(data.replace("<", "&lt;"))

    def handle_entityref(self, name):
        self.out.append(f"&{name};")

    def handle_charref(self, name):
        self.out.append(f"&#{name};")

    def handle_comment(self, data):
        pass  # nh3 strips comments; one here would show nothing

    def handle_decl(self, decl):
        pass

    def unknown_decl(self, data):
        pass


@dataclass(frozen=True)
class Blocked:
    html: str
    sources: tuple[str, ...]

    @property
    def blocked(self) -> int:
        return len(self.sources)


def block_remote_images(source: str) -> Blocked:
    """`source` with each remote image replaced by its placeholder."""
    if "<img" not in (source or "").lower():
        return Blocked(html=source or "", sources=())
    parser = _Rewriter()
    parser.feed(source)
    parser.close()
    return Blocked(html="".join(parser.out), sources=tuple(parser.sources))


def image_origins(source: str) -> list[str]:
    """The http: origins (beside any https:) a message's images come from, for its frame's
    policy; https: ones are allowed as a scheme."""
    found = block_remote_images(source).sources
    return sorted({o for o in map(origin, found) if o.startswith("http://")})


# -- senders whose images always show ---------------------------------------------------------


def sender_address(comment: Comment) -> str:
    """The address a comment's images are remembered by: its contact's, "" for agents."""
    contact = comment.author_contact if comment.author_contact_id else None
    return contact.email.strip().lower() if contact is not None and contact.email else ""


def sender_domain(address: str) -> str:
    return address.rsplit("@", 1)[1] if "@" in address else ""


def allowed_senders(ticket: Ticket) -> frozenset[str]:
    """The addresses and domains, among those of the ticket's comments, whose images show.
    One query; the comments come from the ticket's prefetch."""
    addresses = {sender_address(c) for c in ticket.comments.all()} - {""}
    candidates = addresses | {sender_domain(a) for a in addresses}
    if not candidates:
        return frozenset()
    rows = RemoteImageSender.objects.filter(pattern__in=candidates)
    return frozenset(rows.values_list("pattern", flat=True))


@dataclass(frozen=True)
class CommentImages:
    """How one comment's body shows: inline with placeholders, or framed with its images."""

    html: str
    blocked: int
    shown: bool
    allowed_by: str  # the address or domain that let them show, "" when asked for once
    sender: str

    @property
    def domain(self) -> str:
        return sender_domain(self.sender)


def comment_images(
    comment: Comment, allowed: frozenset[str], *, show: bool = False
) -> CommentImages:
    sender = sender_address(comment)
    allowed_by = next((p for p in (sender, sender_domain(sender)) if p and p in allowed), "")
    result = block_remote_images(comment.body_html)
    shown = bool(result.blocked) and (show or bool(allowed_by))
    return CommentImages(
        html=comment.body_html if shown else result.html,
        blocked=result.blocked,
        shown=shown,
        allowed_by=allowed_by,
        sender=sender,
    )
