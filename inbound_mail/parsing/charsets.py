"""Charsets and byte decoding: decode_bytes, the codec alias and fallback tables, and the
charset hints used to read raw 8-bit header text."""

from __future__ import annotations

import codecs
import functools

_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601-1989": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}
# Japanese mail often says ISO-2022-JP but uses Microsoft's extensions (CP50220).
_CODEC_CHAINS = {
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_2004", "cp932"),
    "euc_jp": ("euc_jp", "euc_jis_2004", "cp932"),
}
# Declared charsets that are so often wrong that valid UTF-8 wins over them.
# Labels that mean "Western, probably": bytes they cannot hold are read as cp1252.
_WEAK_CHARSETS = frozenset({"ascii", "cp1252", "iso8859-1"})
_UNSAFE_CODECS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "charmap"}
)


@functools.lru_cache(maxsize=256)
def _codec_for(charset: str) -> str | None:
    name = charset.strip().strip("\"'").split("*", 1)[0].lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if (
        not getattr(info, "_is_text_encoding", True)
        or info.name.replace("-", "_") in _UNSAFE_CODECS
    ):
        return None
    return info.name


def decode_bytes(data: bytes, charset: str = "") -> str:
    """Decode with the declared charset (aliases mapped to supersets); unknown or
    lying charsets fall back to UTF-8, then cp1252. Never raises.

    A single-byte label on bytes that are valid UTF-8 is taken as a lie: real Latin-1
    or KOI8 text almost never forms valid multi-byte UTF-8 sequences, while mailers
    that label UTF-8 as us-ascii or iso-8859-1 are common."""
    codec = _codec_for(charset) if charset else None
    single_byte = codec is not None and _is_single_byte(codec)
    if data.isascii() and (codec in (None, "utf-8") or single_byte):
        return data.decode("ascii")
    if codec is None or codec in _WEAK_CHARSETS:
        return _decode_unlabelled(data, (codec,) if codec else ())
    if single_byte:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode(codec, "replace")
    for candidate in _CODEC_CHAINS.get(codec, (codec,)):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    if codec != "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data.decode(codec, "replace")


def _decode_unlabelled(data: bytes, hints: tuple[str | None, ...]) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for hint in hints:
        codec = _codec_for(hint) if hint else None
        if not codec or codec in _WEAK_CHARSETS or codec == "utf-8":
            continue
        for candidate in _CODEC_CHAINS.get(codec, (codec,)):
            try:
                return data.decode(candidate)
            except (UnicodeDecodeError, LookupError):
                continue
    return data.decode("cp1252", "replace")


_SINGLE_BYTE_PREFIXES = ("cp", "iso8859", "latin", "koi8", "mac", "ascii", "tis")
_MULTIBYTE_CP = frozenset({"cp932", "cp949", "cp950"})


# EBCDIC code pages are single-byte but not ASCII-compatible.
_EBCDIC = frozenset({"cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140"})


def _is_single_byte(codec: str) -> bool:
    return (
        codec not in _MULTIBYTE_CP
        and codec not in _EBCDIC
        and codec.startswith(_SINGLE_BYTE_PREFIXES)
    )


def _charset_hints(charsets: list[str]) -> tuple[str, ...]:
    # Multibyte charsets first: a strict multibyte decode that succeeds is evidence,
    # a single-byte one always succeeds. cp932/cp949 are multibyte despite the prefix.
    codecs_found = [c for c in (_codec_for(x) for x in charsets) if c]
    multibyte = [c for c in codecs_found if not _is_single_byte(c)]
    return tuple(dict.fromkeys(multibyte + codecs_found))
