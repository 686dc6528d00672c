"""Files on tickets: the Upload a caller hands in, the Attachment row that stores it
(content-addressed under the tenant's prefix), and the links from a mail's inline images to them."""

import hashlib
import html
import mimetypes
import re
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from tickets.models import Attachment, Comment, Ticket


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes
    content_type: str = ""
    content_id: str = ""
    inline: bool = False


def attachment_store(*, ticket: Ticket, comment: Comment | None, upload: Upload) -> Attachment:
    """Store the bytes content-addressed under the tenant's prefix and record them."""
    attachment = _attachment_row(ticket=ticket, comment=comment, upload=upload)
    attachment.save()
    return attachment


def _attachment_row(*, ticket: Ticket, comment: Comment | None, upload: Upload) -> Attachment:
    """Write the bytes (once per content) and return the unsaved row that records them."""
    digest = hashlib.sha256(upload.content).hexdigest()
    path = f"orgs/{ticket.organization_id}/attachments/{digest[:2]}/{digest}"
    if not default_storage.exists(path):
        stored = default_storage.save(path, ContentFile(upload.content))
    else:
        stored = path
    content_type = upload.content_type or (
        mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    )
    return Attachment(
        organization_id=ticket.organization_id,
        ticket=ticket,
        comment=comment,
        file=stored,
        filename=safe_filename(upload.filename),
        content_type=content_type[:120],
        size=len(upload.content),
        sha256=digest,
        content_id=upload.content_id[:255],
        inline=upload.inline,
    )


def safe_filename(name: str) -> str:
    """A display and download name without path parts or control characters: the last
    component that names something ("../../x.txt", "C:\\temp\\y.png", "c:y.png", "dir/")."""
    name = _DRIVE_RE.sub("", (name or "").replace("\\", "/"))
    parts = (
        "".join(ch for ch in part if ch.isprintable() and ch not in '"<>|*?:').strip(". ")
        for part in name.split("/")
    )
    name = next((part for part in reversed(list(parts)) if part), "")
    return name[:255] or "attachment"


_DRIVE_RE = re.compile(r"^\s*[A-Za-z]:")


_CID_SRC_RE = re.compile(r'src="cid:([^"]*)"', re.IGNORECASE)


def _link_inline_images(comment: Comment, ticket: Ticket, stored: list[Attachment]) -> bool:
    """Mail HTML shows inline images as `cid:<Content-ID>` (RFC 2392): point them at our copies.
    True when the comment's HTML changed (the caller saves it)."""
    if not stored or "cid:" not in comment.body_html:
        return False
    urls = {
        a.content_id: reverse("tickets:attachment", args=[ticket.number, a.pk])
        for a in stored
        if a.content_id
    }

    def replace(match: re.Match) -> str:
        url = urls.get(html.unescape(match.group(1)))
        return f'src="{url}"' if url else match.group(0)

    linked = _CID_SRC_RE.sub(replace, comment.body_html)
    changed = linked != comment.body_html
    comment.body_html = linked
    return changed
