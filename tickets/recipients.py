"""Addresses an agent types (Cc, Bcc, Forward to): comma- or semicolon-separated, each checked,
lowercased and listed once; what a reply was addressed to is stored on its comment."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_ADDRESSES = 20
_SEPARATORS = re.compile(r"[,;\s]+")


def parse_addresses(value: str, *, field: str) -> list[str]:
    """The addresses in `value`, or a ValidationError that names the one that is wrong."""
    found: list[str] = []
    for part in _SEPARATORS.split(value or ""):
        address = part.strip().strip("<>").lower()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(f"{field}: “{part[:80]}” is not an email address.") from None
        if address not in found:
            found.append(address)
    if len(found) > MAX_ADDRESSES:
        raise ValidationError(f"{field}: at most {MAX_ADDRESSES} addresses.")
    return found
