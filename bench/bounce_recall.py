"""Bounce and auto-reply recall over the shared mail corpus (../shared/corpus).

Parses every corpus message (mbox containers split into their messages), classifies it
(`inbound_mail.classify.classify`, with no spam rules) and compares the verdict with what the
corpus says the message is: MANIFEST.tsv's `bounce-dsn` and `auto-reply` labels, which the
corpus README explains (sisimai's lhost/rhost/rfc3464/err files are bounces, its rfc3834 files
auto-replies, its maildir/not files not bounces; BounceParser's vacation files auto-replies).
The labels are heuristics of the corpus's own script, so each disagreement is listed by name
for a person to judge.

Prints: bounces found / expected (and how many of them name a failed recipient), auto-replies
found / expected, false bounces (a bounce verdict on a message not labelled a bounce), and
bounces or auto-replies among the rest.

    .venv/bin/python bench/bounce_recall.py [--list]
"""

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Parsing and classifying only: no database, no secrets; the development settings will do.
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402 - after the settings module is named

django.setup()

from inbound_mail import classify  # noqa: E402
from inbound_mail.parsing import parse_message  # noqa: E402
from tests.inbound.corpus import MBOX_FILES, manifest, split_mbox  # noqa: E402


def _expected(categories: frozenset[str]) -> str:
    if "bounce-dsn" in categories:
        return "bounce"
    if "auto-reply" in categories:
        return "auto"
    return "normal"


def _messages():
    for entry in manifest():
        data = entry.file.read_bytes()
        expected = _expected(entry.categories)
        if entry.path in MBOX_FILES:
            # An mbox's label covers the container, not each message: judged separately.
            for number, message in enumerate(split_mbox(data), 1):
                yield f"{entry.path}#{number}", message, "mbox"
        else:
            yield entry.path, data, expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--list", action="store_true", help="name every disagreement")
    args = parser.parse_args()
    counts: Counter[tuple[str, str]] = Counter()
    with_recipient = 0
    disagreements: list[tuple[str, str, str, str]] = []
    for name, data, expected in _messages():
        parsed = parse_message(data)
        verdict = classify.classify(parsed, spam_rule_for=lambda _address: None)
        got = _kind(verdict.kind)
        counts[(expected, got)] += 1
        if expected == "bounce" and got == "bounce" and parsed.bounce.recipients:
            with_recipient += 1
        if expected != got and expected != "mbox":
            disagreements.append((name, expected, got, verdict.reason))
    _report(counts, with_recipient)
    if args.list:
        for name, expected, got, reason in disagreements:
            print(f"  {expected:>6} -> {got:<6} {name}  ({reason})")


def _kind(kind: str) -> str:
    if kind == classify.BOUNCE:
        return "bounce"
    if kind == classify.AUTO:
        return "auto"
    return "normal"  # normal mail, or mail with no sender (quarantined, not a bounce)


def _report(counts: Counter[tuple[str, str]], with_recipient: int) -> None:
    def total(expected: str) -> int:
        return sum(n for (e, _), n in counts.items() if e == expected)

    bounces = total("bounce")
    autos = total("auto")
    normal = total("normal")
    print(f"messages: {sum(counts.values())}")
    print(
        f"bounces found / expected: {counts[('bounce', 'bounce')]} / {bounces}"
        f" (naming a failed recipient: {with_recipient}; taken as auto-reply: "
        f"{counts[('bounce', 'auto')]}; as normal: {counts[('bounce', 'normal')]})"
    )
    print(
        f"auto-replies found / expected: {counts[('auto', 'auto')]} / {autos}"
        f" (taken as bounce: {counts[('auto', 'bounce')]})"
    )
    print(
        f"false bounces among normal mail: {counts[('normal', 'bounce')]} / {normal}"
        f" (auto-generated among normal mail: {counts[('normal', 'auto')]})"
    )
    mbox = total("mbox")
    print(
        f"mbox messages: {mbox} (bounces {counts[('mbox', 'bounce')]}, "
        f"auto {counts[('mbox', 'auto')]}, normal {counts[('mbox', 'normal')]})"
    )


if __name__ == "__main__":
    main()
