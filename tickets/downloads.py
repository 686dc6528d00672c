"""How a ticket's attachment is served, to agents (tickets.views) and to contacts (the portal):
raster images inline, everything else as a download the browser never sniffs or runs."""

from django.http import FileResponse

from tickets.models import Attachment
from tickets.rich_text import INLINE_IMAGE_TYPES


def attachment_response(attachment: Attachment) -> FileResponse:
    inline = attachment.content_type in INLINE_IMAGE_TYPES
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not inline,
        filename=attachment.filename,
        content_type=attachment.content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
