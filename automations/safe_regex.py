"""A tenant's regular expressions, made safe to run in a shared worker: refused before they
compile when too long or when their counted repeats would take the compiler itself minutes
(the `regex` module builds `a{4294967294}` or `((a{1000}){1000}){1000}` for ever, and
`(a{1000}){1000}` costs 280 MB), and cut off while they search after
schema.PATTERN_TIMEOUT_SECONDS, over at most schema.MAX_TEXT_SCANNED characters, so a pattern
built to backtrack catastrophically (`(a+)+$`) cannot stall a worker.

Case-insensitive always: the settings page promises it for words and patterns alike.
"""

import re

import regex

from automations import schema

FLAGS = regex.IGNORECASE | regex.VERSION0
# The largest count of one repeat, and of repeats nested inside each other multiplied: what
# the compiler expands stays small (timed: every pattern within both compiles in under 5 ms).
MAX_REPEAT = 1000


class PatternError(ValueError):
    """A pattern that is refused; the message says why, for the person who wrote it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PatternTimeout(Exception):
    """The search ran past its time limit; the text counts as not matching."""


def compile_pattern(text: str) -> regex.Pattern:
    """The compiled, case-insensitive pattern, or PatternError."""
    if not isinstance(text, str) or not text.strip():
        raise PatternError("Enter a regular expression.")
    if len(text) > schema.MAX_PATTERN_LENGTH:
        raise PatternError(
            f"A regular expression may have at most {schema.MAX_PATTERN_LENGTH} characters "
            f"(this one has {len(text)})."
        )
    _check_repeats(text)
    try:
        return regex.compile(text, FLAGS)
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:
        raise PatternError(f"This is not a valid regular expression: {exc}.") from None


def search(pattern: regex.Pattern, text: str) -> bool:
    """Whether the pattern occurs in the first MAX_TEXT_SCANNED characters of `text`; raises
    PatternTimeout past the time limit."""
    try:
        found = pattern.search(
            text[: schema.MAX_TEXT_SCANNED], timeout=schema.PATTERN_TIMEOUT_SECONDS
        )
    except TimeoutError:
        raise PatternTimeout(pattern.pattern) from None
    return found is not None


# -- what the compiler would choke on ---------------------------------------------------------

# An inline flag group: (?i), (?-i), (?i:...), (?V1) ...
_FLAG_GROUP = re.compile(r"\?([a-zA-Z0-9^-]*)[):]")
_COUNT = re.compile(r"\{([0-9]*)(?:,([0-9]*))?\}[?+]?")


def _check_repeats(text: str) -> None:
    """Refuse a `{m,n}` count over MAX_REPEAT, alone or multiplied by the counts inside the
    group it repeats, and what would hide a count from this scan: verbose mode (`(?x)a
    {4294967 294}`: spaces and comments inside and before a count), comment groups (a count
    after `(?#...)` repeats the atom before it) and version 1 syntax (nested sets).

    A scan of the pattern's text: escapes (with the braces of `\\p{L}` and the like) and
    character sets are single atoms; each open group keeps the largest product of counts
    inside it, which its own count then multiplies."""
    inside = [1]  # per open group (the pattern itself first): the largest product within
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "(":
            _check_group_opening(text, i)
            inside.append(1)
            i += 1
            continue
        if char == ")" and len(inside) > 1:
            atom, i = inside.pop(), i + 1
        elif char == "\\":
            atom, i = 1, _after_escape(text, i)
        elif char == "[":
            atom, i = 1, _after_set(text, i)
        else:
            # A brace is an atom here only when it is no count; a count at the very start
            # (or after "|") still must not be huge.
            atom = 1
            if char != "{" or _count_at(text, i)[0] is None:
                i += 1
        count, i = _count_at(text, i)
        if count is not None:
            atom *= max(count, 1)
            if atom > MAX_REPEAT:
                raise PatternError(
                    f"A repeat count may be at most {MAX_REPEAT} (the counts of groups inside "
                    "each other multiplied)."
                )
        inside[-1] = max(inside[-1], atom)


def _check_group_opening(text: str, i: int) -> None:
    if text[i + 1 : i + 3] == "?#":
        raise PatternError("Comments (?#...) are not allowed in a pattern.")
    flags = _FLAG_GROUP.match(text, i + 1)
    if flags and ("x" in flags[1] or "V1" in flags[1]):
        raise PatternError("The flags x (verbose) and V1 are not allowed in a pattern.")


def _after_escape(text: str, i: int) -> int:
    """The index after the escape at `i`: `\\p{L}`, `\\N{name}`, `\\x{263a}` and
    `\\g<name>` take their braced argument with them."""
    letter, j = text[i + 1 : i + 2], i + 2
    opening = text[j : j + 1]
    if (letter in ("p", "P", "N", "x") and opening == "{") or (
        letter in ("g", "k") and opening == "<"
    ):
        found = text.find("}" if opening == "{" else ">", j)
        return len(text) if found < 0 else found + 1
    return j


def _after_set(text: str, i: int) -> int:
    j = i + 1
    if text[j : j + 1] == "^":
        j += 1
    if text[j : j + 1] == "]":
        j += 1  # a "]" first in a set is literal
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == "]":
            return j + 1
        j += 1
    return j


def _count_at(text: str, i: int) -> tuple[int | None, int]:
    """A counted repeat at `i` (`{m}`, `{m,}`, `{,n}`, `{m,n}`, and its lazy or possessive
    mark): (its largest count, the index after it); else (None, i). Other braces are literal
    text or fuzzy constraints (`{e<=2}`), which the time limit covers."""
    found = _COUNT.match(text, i)
    if found is None or not (found[1] or found[2]):
        return None, i
    return max(int(found[1] or 0), int(found[2] or 0)), found.end()
