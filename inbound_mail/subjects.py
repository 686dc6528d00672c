"""Subject lines: reply/forward prefixes in many languages and our ``[#123]`` ticket tag.

Clients localise the prefix (Outlook: "AW:"/"WG:" in German, "SV:" in Scandinavian,
"RIF:"/"R:"/"I:" in Italian, "TR:" in French, "RV:" in Spanish, "回复:" in Chinese
Outlook/Foxmail, "Ответ:" in Russian clients), repeat it ("Re: Re: Fwd:"), count it
("Re[2]:", "Re(3):", "Re^2:") and put a space before the colon (French typography).
"""

from __future__ import annotations

import re

_REPLY_WORDS = (
    r"re|aw|sv|vs|antw|antwort|rif|r|réf|ref|res|resp|odp|ynt|atb|vá|"
    r"回复|回覆|答复|答覆|返信|回信|ответ|отв|회신|답장|απ|σχετ|השב|رد"
)
_FORWARD_WORDS = (
    r"fwd|fw|wg|tr|enc|rv|vl|pd|doorst|wtr|i|"
    r"转发|轉寄|轉發|転送|пересл|переслать|전달|πρθ|הועבר|إعادة توجيه"
)
_COUNTER = r"(?:\s*(?:\[\d{1,4}\]|\(\d{1,4}\)|\^\d{1,4}))?"
_COLON = r"\s*[:\uff1a]"

_REPLY_RE = re.compile(rf"^\s*(?:{_REPLY_WORDS})\.?{_COUNTER}{_COLON}", re.I)
_FORWARD_RE = re.compile(rf"^\s*(?:{_FORWARD_WORDS})\.?{_COUNTER}{_COLON}", re.I)
# A whole run of prefixes in one match ("Re: AW: Fwd:"); nothing follows the group, so
# the repetition cannot backtrack badly.
_ANY_PREFIX_RE = re.compile(
    rf"^(?:\s*(?:{_REPLY_WORDS}|{_FORWARD_WORDS})\.?{_COUNTER}{_COLON})+\s*", re.I
)
# Pine and some list software append "(fwd)" instead of prefixing.
_FWD_SUFFIX_RE = re.compile(r"\s*\(fwd\)\s*$", re.I)
_TICKET_TAG_RE = re.compile(r"\[#(\d{1,18})\]")
_TICKET_TAG_SPACES_RE = re.compile(r"\s*\[#\d{1,18}\]\s*")
_SPACE_RE = re.compile(r"\s+")
# Tags such as "[EXTERNAL]" or "*EXT*" that gateways prepend; bounded, so no backtracking.
_LEADING_TAGS_RE = re.compile(r"^(?:\s*(?:\[[^\[\]]{1,40}\]|\*[A-Za-z]{1,20}\*))+\s*")


def find_ticket_tags(subject: str) -> list[int]:
    """Ticket numbers from ``[#123]`` tags, in order of appearance."""
    return [int(n) for n in _TICKET_TAG_RE.findall(subject or "")]


def strip_ticket_tag(subject: str) -> str:
    """The subject without ``[#123]`` tags, whitespace collapsed."""
    return _SPACE_RE.sub(" ", _TICKET_TAG_SPACES_RE.sub(" ", subject or "")).strip()


def has_reply_prefix(subject: str) -> bool:
    """True when the subject starts (after any ticket tags) with a reply prefix."""
    return bool(_REPLY_RE.match(strip_ticket_tag(subject)))


def has_forward_prefix(subject: str) -> bool:
    """True when the first prefix (after ticket tags) is a forward prefix, or the
    subject ends with the Pine-style "(fwd)"."""
    subject = strip_ticket_tag(subject)
    return bool(_FORWARD_RE.match(subject) or _FWD_SUFFIX_RE.search(subject))


def is_forward(subject: str) -> bool:
    """A forward, also behind the tags that mail gateways put in front of the subject
    ("[EXTERNAL] FW: ...", "[SPAM?] Fwd: ..."): someone passing on something, not replying."""
    if has_forward_prefix(subject):
        return True
    untagged = _LEADING_TAGS_RE.sub("", strip_ticket_tag(subject), count=1)
    return untagged != subject and has_forward_prefix(untagged)


def strip_prefixes(subject: str) -> str:
    """Remove any run of reply/forward prefixes, mixed and repeated ("Re: AW: Fwd:")."""
    subject = strip_ticket_tag(subject)
    for _ in range(20):  # a tag between prefixes ("Re: [#1] AW:") needs another pass
        stripped = strip_ticket_tag(_ANY_PREFIX_RE.sub("", subject, count=1))
        if stripped == subject:
            break
        subject = stripped
    return _FWD_SUFFIX_RE.sub("", subject).strip()


def normalize_subject(subject: str) -> str:
    """Comparable form of a subject: prefixes, ticket tags and extra whitespace
    removed, case-folded. Two messages of one thread normalise to the same string."""
    return strip_prefixes(subject or "").casefold()
