"""Access to the shared corpus of real mail (../shared/corpus, see its README.md).

The corpus is test data shared between projects and is never copied into this repo.
Tests that need it call `require_corpus()` and are skipped when it is absent.
"""

from __future__ import annotations

import csv
import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from inbound_mail.parsing import ParsedMessage, parse_message

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
PUBLIC = CORPUS / "public"

# Containers that hold several messages (MANIFEST category "other").
MBOX_FILES = (
    "public/sisimai-set-of-emails/mailbox/mbox-1",
    "public/mimekit/mbox/simple.mbox.txt",
    "public/mimekit/mbox/unmunged.mbox.txt",
    "public/roundcube/src/import.mbox",
)


def require_corpus() -> Path:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"mail corpus not found at {CORPUS}")
    return CORPUS


@dataclass(frozen=True)
class Entry:
    path: str  # relative to CORPUS, as in MANIFEST.tsv
    categories: frozenset[str]

    @property
    def file(self) -> Path:
        return CORPUS / self.path


@functools.cache
def manifest() -> tuple[Entry, ...]:
    with (require_corpus() / "MANIFEST.tsv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return tuple(Entry(r["path"], frozenset(r["category"].split(","))) for r in rows)


# A separator line, "From <sender> <asctime>" or Mozilla's "From - ", then a header line.
# Unmunged bodies ("From Russia with love") do not match the date form.
_MBOX_SEPARATOR_RE = re.compile(
    rb"^(?:\xef\xbb\xbf)?From (?:- *|\S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [^\r\n]*)\r?\n"
    rb"(?=[!-9;-~]+:)",
    re.M,
)


def split_mbox(data: bytes) -> list[bytes]:
    """Messages of an mbox file, each with its "From " line."""
    starts = [m.start() for m in _MBOX_SEPARATOR_RE.finditer(data)]
    if not starts:
        return [data]
    if starts[0] > 0:
        starts.insert(0, 0)
    bounds = [*starts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if data[a:b].strip()]


def all_messages() -> Iterator[tuple[str, bytes]]:
    """Every message in the corpus, mbox containers split into their messages."""
    for entry in manifest():
        data = entry.file.read_bytes()
        if entry.path in MBOX_FILES:
            for number, message in enumerate(split_mbox(data), 1):
                yield f"{entry.path}#{number}", message
        else:
            yield entry.path, data


@functools.cache
def parsed(relative: str) -> ParsedMessage:
    """parse_message on a corpus file, cached across test modules."""
    return parse_message((CORPUS / relative).read_bytes())


class RubyYamlLoader(yaml.SafeLoader):
    """Zammad's expectation files carry Ruby tags (!ruby/hash:...); read them as plain
    mappings, sequences and scalars."""


def _construct_tagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


RubyYamlLoader.add_multi_constructor("!", _construct_tagged)


def load_ruby_yaml(path: Path) -> dict:
    return yaml.load(path.read_text("utf-8"), Loader=RubyYamlLoader)  # noqa: S506 - safe loader subclass


def collapse(value: object) -> str:
    return " ".join(str(value or "").split())


def report_rate(name: str, matched: int, total: int) -> float:
    rate = matched / total if total else 1.0
    print(f"{name}: {matched}/{total} = {rate:.1%}")
    return rate
