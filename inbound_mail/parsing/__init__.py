"""Turn raw RFC 5322 bytes into a ParsedMessage for the email-to-ticket pipeline.

Pure Python: no Django, no database. `parse_message` never raises. The primary path is
the standard library parser with the compat32 policy, which never raises on broken
headers because it keeps them as raw strings; header decoding, address parsing, charsets
and body selection are done here. Measured on the shared corpus (699 messages, best of
three): mail-parser alone takes 0.44 ms median per message, more than this whole module
(0.39 ms including classification), and it raised on 4 corpus messages. So mail-parser
is the second stage, used only when the primary path fails, and a header-only parse is
the last resort. Each fallback leaves a note in `defects`.

This module is the package's public interface: the entry points and the result types used
across the app. Everything else is imported from the submodule that holds it. Each
submodule imports only from those listed below it, so there are no cycles:

    pipeline        parse_message, parse_header_block; the primary (stdlib) stage
    fallbacks       the mail-parser stage and the header-only last resort
    classification  bounce, auto-reply, forward and reply text
    header_fields   ids, subject, date, author and recipients of a ParsedMessage
    unpacking       files inside attachments (forwarded mail, TNEF, uuencode), the budget
    attachments     parts that are not bodies, and their filenames
    bodies          the text and HTML bodies, format=flowed, uuencoded blocks cut out
    uuencode        uuencoded blocks of a text body
    tnef            winmail.dat (tnefparse, after a bounds check)
    html_text       html_to_text and the HTML sanitiser
    addresses       parse_addresses
    mime            the MIME walk, content types, parameters, RFC 2231
    headers         raw header text, encoded-words, message ids, dates
    charsets        decode_bytes and the codec tables
    message         ParsedMessage, Address, ParsedAttachment, to_json
    limits          hard limits against hostile input

Names with a leading underscore are private to the package; sibling modules import them
from one another.
"""

from inbound_mail.parsing.message import Address, ParsedAttachment, ParsedMessage, to_json
from inbound_mail.parsing.pipeline import parse_header_block, parse_message

__all__ = [
    "Address",
    "ParsedAttachment",
    "ParsedMessage",
    "parse_header_block",
    "parse_message",
    "to_json",
]
