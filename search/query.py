"""The search box's language, parsed into a value the database engines turn into their own
safe query (never the user's text as tsquery or FTS5 syntax).

    invoice 4471          both words (AND), anywhere in one ticket's document
    "printer on fire"     a phrase: the words in this order
    -spam  -"out of office"   leaves out tickets with the word or phrase anywhere
    prin                  the last bare word is a prefix while typing (search-as-you-type)
    4471 or #4471         also the ticket with that number (the page jumps to it)

Every term is a plain string: the engines quote it (tsquery `'...'`, FTS5 `"..."`), so quotes,
backslashes, colons, `&|!()<>*^` and NUL in the input are only text. The input is cut to
`MAX_QUERY_CHARS` and `MAX_TERMS` terms so that one request does bounded work.
"""

import re
import unicodedata
from dataclasses import dataclass, field

MAX_QUERY_CHARS = 200
MAX_TERMS = 8
MAX_TERM_CHARS = 60
# Ticket numbers are PositiveIntegerField (at most 2**31 - 1: ten digits).
MAX_NUMBER_DIGITS = 9

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
# Characters that are only punctuation to both engines' word splitters at a term's edges.
_EDGE = "\"'`.,;:!?()[]{}<>*&|^~=+\\/"


@dataclass(frozen=True)
class Term:
    """A word or a phrase (several words in order); `prefix` matches words starting with it."""

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class ParsedQuery:
    include: tuple[Term, ...] = ()
    exclude: tuple[Term, ...] = ()
    number: int | None = None
    # "#4471": only the number was asked for, no text search.
    number_only: bool = False
    raw: str = ""
    words: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not self.include and self.number is None

    @property
    def searches_text(self) -> bool:
        return bool(self.include) and not self.number_only


def _clean(text: str) -> str:
    """Drop control and private-use characters (NUL breaks PostgreSQL text; the private-use
    ones are the snippets' highlight markers) and fold to NFC."""
    text = unicodedata.normalize("NFC", text)
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") else ch
        for ch in text
    )


def _words(text: str) -> tuple[str, ...]:
    found = []
    for word in text.split():
        word = word.strip(_EDGE)[:MAX_TERM_CHARS]
        if word and any(ch.isalnum() for ch in word):
            found.append(word)
    return tuple(found)


def parse(raw: str) -> ParsedQuery:
    """The query as terms; anything that is not a term is dropped, never an error."""
    text = _clean(raw or "")[:MAX_QUERY_CHARS]
    # A query still being typed ends in a word: that word is a prefix.
    ends_open = bool(text) and not text[-1].isspace() and not text.endswith('"')
    text = text.strip()
    digits = text.removeprefix("#").strip()
    if digits.isascii() and digits.isdigit() and len(digits) <= MAX_NUMBER_DIGITS and int(digits):
        hashed = text.startswith("#")
        term = () if hashed else (Term((digits,), prefix=ends_open),)
        return ParsedQuery(term, (), int(digits), hashed, raw=text, words=(digits,))
    include: list[Term] = []
    exclude: list[Term] = []
    tokens = list(_TOKEN.finditer(text))
    for position, token in enumerate(tokens):
        negative, phrase, bare = token.group(1), token.group(2), token.group(3)
        if phrase is not None:
            words = _words(phrase)
            target = exclude if negative else include
        else:
            negative = "-" if bare.startswith("-") and len(bare) > 1 else ""
            words = _words(bare[1:] if negative else bare)
            target = exclude if negative else include
        if not words or len(include) + len(exclude) >= MAX_TERMS:
            continue
        last = position == len(tokens) - 1
        prefix = phrase is None and not negative and last and ends_open and len(words) == 1
        target.append(Term(words, prefix=prefix))
    shown = tuple(w for t in include for w in t.words)
    return ParsedQuery(tuple(include), tuple(exclude), raw=text, words=shown)


# -- the engines' query strings -------------------------------------------------------------


_HYPHEN_DIGIT = re.compile(r"-(?=[0-9])")


def _tsquery_operand(word: str, prefix: bool) -> str:
    # Inside '...' a tsquery operand is only text: ' is doubled and \ escapes the next
    # character (PostgreSQL's tsquery input rules); the config's parser splits it as it
    # splits documents, so "carol@x.test" is the same lexeme on both sides. A hyphen before
    # a digit is a space, as in the documents (search_words in search's migration).
    word = _HYPHEN_DIGIT.sub(" ", word)
    quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
    return quoted + (":*" if prefix else "")


def _tsquery_term(term: Term) -> str:
    parts = [_tsquery_operand(w, term.prefix) for w in term.words]
    return parts[0] if len(parts) == 1 else "(" + " <-> ".join(parts) + ")"


def to_tsquery(parsed: ParsedQuery) -> str:
    """The text for `to_tsquery(config, %s)` of the words a document must hold (AND), every
    operand quoted."""
    return " & ".join(_tsquery_term(t) for t in parsed.include)


def to_tsquery_excluded(parsed: ParsedQuery) -> str:
    """Any excluded word or phrase (OR): a ticket with a document matching it is left out.
    Empty when nothing is excluded."""
    return " | ".join(_tsquery_term(t) for t in parsed.exclude)


def _fts5_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fts5_term(term: Term) -> str:
    return _fts5_string(term.text) + (" *" if term.prefix else "")


def to_fts5(parsed: ParsedQuery) -> str:
    """An FTS5 MATCH expression of the words a document must hold: every term a quoted string
    (a phrase when it has several words), `AND` between them."""
    return " AND ".join(_fts5_term(t) for t in parsed.include)


def to_fts5_excluded(parsed: ParsedQuery) -> str:
    """Any excluded term (OR); empty when nothing is excluded."""
    return " OR ".join(_fts5_term(t) for t in parsed.exclude)
