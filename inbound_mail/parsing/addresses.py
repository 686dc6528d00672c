"""Address lists: parse_addresses reads From, To, Cc and the like leniently (groups,
comments, Outlook's mailto brackets, encoded-words) into Address values."""

from __future__ import annotations

import re

from inbound_mail.parsing.headers import (
    _ENCODED_WORD_RE,
    _header_str,
    collapse_whitespace,
    decode_header_value,
)
from inbound_mail.parsing.limits import MAX_ADDRESSES, MAX_HEADER_CHARS
from inbound_mail.parsing.message import Address

_ADDRESS_TOKEN_RE = re.compile(
    r"""(?P<q>"(?:[^"\\]|\\.)*"?)
      | (?P<c>\((?:[^()\\]|\\.)*\)?)
      | (?P<a><[^<>]*>?)
      | (?P<l>\[[^\[\]]*\]?)
      | (?P<s>[,;])
      | (?P<t>[^,;"(<\[]+)
      | (?P<x>.)""",
    re.X | re.S,
)
_PLACEHOLDER_RE = re.compile("\ue000(\\d+)\ue001")


def parse_addresses(value: str, hints: tuple[str, ...] = ()) -> list[Address]:
    """Parse an address-list header leniently: groups, comments as names, Outlook
    ``Name [mailto:x]``, unquoted commas in names, and ``;`` as a separator.

    Encoded-words are swapped for placeholders before splitting, so a comma inside
    ``=?iso-8859-1?Q?B=FCrling,=20Andreas?=`` does not split the address. RFC 2047 5(3)
    forbids them in the address itself; see _address_word for the safe exception.
    """
    if not value:
        return []
    value = _header_str(value[:MAX_HEADER_CHARS], hints)
    words: list[str] = []

    def protect(match: re.Match[str]) -> str:
        words.append(match.group(0))
        return f"\ue000{len(words) - 1}\ue001"

    value = _ENCODED_WORD_RE.sub(protect, value)
    if "(" in value:
        value = _flatten_comments(value)
    chunks = _merge_unquoted_commas(_split_address_list(value))
    found: list[Address] = []
    for chunk in chunks:
        found.extend(_chunk_addresses(chunk, words, hints))
        if len(found) >= MAX_ADDRESSES:
            break
    return found


def _flatten_comments(value: str) -> str:
    """RFC 5322 comments nest ("(nobody(that I know))"); flatten them to one level and
    close an unterminated one, so the tokenizer's regex sees simple comments."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"' and not depth:
            quoted = not quoted
        elif char == "(" and not quoted:
            depth += 1
            if depth > 1:
                char = " "
        elif char == ")" and depth and not quoted:
            depth -= 1
            if depth:
                char = " "
        out.append(char)
    return "".join(out) + ")" * min(depth, 1)


def _split_address_list(value: str) -> list[list[tuple[str, str]]]:
    chunks: list[list[tuple[str, str]]] = [[]]
    for match in _ADDRESS_TOKEN_RE.finditer(value):
        kind = match.lastgroup or "x"
        if kind == "s":
            chunks.append([])
        else:
            chunks[-1].append((kind, match.group(0)))
    return [c for c in chunks if c]


def _merge_unquoted_commas(chunks: list[list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
    # "Smith, John <j@example.com>" from sloppy clients: a chunk with no address at all
    # followed by one with an angle address is a display name that held a comma.
    merged: list[list[tuple[str, str]]] = []
    for chunk in chunks:
        if merged and _is_bare_name(merged[-1]) and any(k == "a" for k, _ in chunk):
            merged[-1] = [*merged[-1], ("t", ","), *chunk]
        else:
            merged.append(chunk)
    return merged


def _is_bare_name(chunk: list[tuple[str, str]]) -> bool:
    text = "".join(t for k, t in chunk if k in "tq")
    return bool(text.strip()) and "@" not in text and not any(k in "al" for k, _ in chunk)


def _chunk_addresses(
    chunk: list[tuple[str, str]], words: list[str], hints: tuple[str, ...]
) -> list[Address]:
    chunk = _drop_group_label(chunk)
    angle = [t for k, t in chunk if k == "a"]
    mailto = [t for k, t in chunk if k == "l" and t[1:].lower().startswith("mailto:")]
    comment = " ".join(t.strip("()") for k, t in chunk if k == "c")
    if angle or mailto:
        addr = (angle or mailto)[-1].strip("<>[]")
        display = "".join(t for k, t in chunk if k in "tqx")
        return _make_addresses([addr], display or comment, words, hints)
    text = "".join(t for k, t in chunk if k in "tqlx").strip()
    # "jdoe@test . example" (RFC 5322 obsolete syntax allows CFWS around the dots).
    candidates = _ADDR_SPACES_RE.sub(r"\1", text).split()
    if len(candidates) > 1:
        # Several words: keep those that are addresses; a bare "Bob Smith" is a name
        # without an address, not the address "bobsmith".
        candidates = [c for c in candidates if "@" in c]
    return _make_addresses(candidates, comment, words, hints)


_ADDR_SPACES_RE = re.compile(r"\s*([.@])\s*")


def _drop_group_label(chunk: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # RFC 5322 3.4 group syntax "Team: a@x, b@y;": drop the label before the colon.
    for index, (kind, text) in enumerate(chunk):
        if kind == "t" and ":" in text and "@" not in text.split(":", 1)[0]:
            return [("t", text.split(":", 1)[1]), *chunk[index + 1 :]]
        if kind in "al":
            break
    return chunk


def _make_addresses(
    raw_addresses: list[str], display: str, words: list[str], hints: tuple[str, ...]
) -> list[Address]:
    name = _display_name(display, words, hints)
    result = []
    for raw in raw_addresses:
        addr = _normalize_address(_PLACEHOLDER_RE.sub(lambda m: _address_word(words, m), raw))
        if addr:
            result.append(Address(name=name if len(raw_addresses) == 1 else "", address=addr))
    return result


_ATEXT_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")


def _address_word(words: list[str], match: re.Match[str]) -> str:
    """An encoded-word inside an addr-spec. Zammad and the Mail gem decode it; we do
    only when the result is plain atext, so it cannot add an "@", "<" or "," and turn
    into a different address; otherwise it stays literal."""
    word = words[int(match.group(1))]
    decoded = decode_header_value(word)
    return decoded if _ATEXT_RE.fullmatch(decoded) else word


def _display_name(display: str, words: list[str], hints: tuple[str, ...]) -> str:
    name = display.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    else:
        name = name.replace('"', "")
    name = _PLACEHOLDER_RE.sub(lambda m: words[int(m.group(1))], name)
    return collapse_whitespace(decode_header_value(name, hints)).strip("'\" ")


_COMMENT_RE = re.compile(r"\([^()]*\)")
_ROUTE_RE = re.compile(r"^@[^:]*:")
_ADDRESS_JUNK = frozenset(' <>(),;:[]\\"')


def _normalize_address(raw: str) -> str:
    """Lower-cased addr-spec, or "" when what is left cannot be an address.
    Comments inside the address ("pete(his account)@silly.test") and the obsolete
    source route ("<@relay:mary@example.net>", RFC 5322 4.4) are removed."""
    addr = _COMMENT_RE.sub("", collapse_whitespace(raw)).replace(" ", "").strip("<>\"'")
    if addr[:7].lower() == "mailto:":
        addr = addr[7:]
    addr = _ROUTE_RE.sub("", addr).strip(";,")
    local, at, domain = addr.rpartition("@")
    checked = domain if local.startswith('"') else addr  # a quoted local part may hold anything
    if (at and not (local and domain)) or _ADDRESS_JUNK.intersection(checked):
        return ""
    return addr.lower()
