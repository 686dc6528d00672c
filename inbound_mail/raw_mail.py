"""Raw mail in the storage backend, content-addressed: `inbound/<sha256>`.

Stored before anything else happens to a message and kept after processing, so that a message
can always be reprocessed or downloaded as it arrived.
"""

import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_scopes import scopes_disabled

from inbound_mail.models import InboundMessage, UnclaimedMessage, raw_storage_path


class RawMailMissing(Exception):
    """The row exists but its bytes are gone from storage."""


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def store(raw: bytes) -> str:
    """Write the bytes (once: identical bytes share one object) and return their sha256."""
    sha256 = digest(raw)
    path = raw_storage_path(sha256)
    if not default_storage.exists(path):
        saved = default_storage.save(path, ContentFile(raw))
        if saved != path:
            # FileSystemStorage renames when another writer stored the same bytes a moment
            # earlier; the content is identical, so the copy under the new name is not needed.
            default_storage.delete(saved)
    return sha256


def read(sha256: str) -> bytes:
    path = raw_storage_path(sha256)
    try:
        with default_storage.open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError) as exc:
        raise RawMailMissing(f"the raw message {path} is missing from storage") from exc


def delete_if_unused(sha256: str) -> bool:
    """Remove the bytes when no row of any tenant, nor the platform quarantine, refers to them."""
    # The raw object is shared by every tenant that received the same bytes; only a count
    # across tenants can tell whether it is still needed. Nothing else is read.
    with scopes_disabled():  # a count across tenants only
        in_use = (
            InboundMessage.objects.filter(sha256=sha256).exists()
            or UnclaimedMessage.objects.filter(sha256=sha256).exists()
        )
    if in_use:
        return False
    default_storage.delete(raw_storage_path(sha256))
    return True
