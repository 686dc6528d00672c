"""Subject normalisation, reply/forward prefixes and ticket tags."""

import pytest

from inbound_mail.subjects import (
    find_ticket_tags,
    has_forward_prefix,
    has_reply_prefix,
    normalize_subject,
    strip_prefixes,
    strip_ticket_tag,
)


@pytest.mark.parametrize(
    "subject",
    [
        "Printer broken",
        "Re: Printer broken",
        "RE: Printer broken",
        "re:Printer broken",
        "Re: Re: Printer broken",
        "Re:Re:Printer broken",
        "Re[2]: Printer broken",
        "Re(3): Printer broken",
        "Re^2: Printer broken",
        "Fwd: Printer broken",
        "FW: Printer broken",
        "Fw: RE: Printer broken",
        "AW: WG: Printer broken",
        "SV: VS: Printer broken",
        "Antw: Printer broken",
        "Antwort: Printer broken",
        "RIF: R: I: Printer broken",
        "TR : Réf : Printer broken",
        "RE : Printer broken",
        "Enc: RES: Printer broken",
        "RV: Printer broken",
        "Odp: PD: Printer broken",
        "回复: 转发: Printer broken",
        "回覆\uff1aPrinter broken",  # fullwidth colon, as Chinese clients send
        "答复: Printer broken",
        "転送: 返信: Printer broken",
        "Ответ: Printer broken",
        "Отв: Пересл: Printer broken",
        "[#123] Re: Printer broken",
        "Re: [#123] Printer broken",
        "Re: Printer broken [#123]",
        "  Re:   Printer    broken  ",
        "PRINTER BROKEN",
        "Printer broken (fwd)",
    ],
)
def test_normalize_subject_strips_prefixes_tags_and_case(subject):
    assert normalize_subject(subject) == "printer broken"


def test_normalize_subject_keeps_words_that_only_look_like_prefixes():
    assert normalize_subject("Rework: the plan") == "rework: the plan"
    assert normalize_subject("Fwd rules for TR") == "fwd rules for tr"
    assert normalize_subject("Re:") == ""
    assert normalize_subject("") == ""


def test_normalize_subject_unicode_casefold():
    assert normalize_subject("AW: Straße") == normalize_subject("strasse")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: x", True),
        ("AW: x", True),
        ("SV:x", True),
        ("回复\uff1ax", True),
        ("[#12] RE: x", True),
        ("Fwd: x", False),
        ("x Re: y", False),
        ("Regarding x", False),
        ("", False),
    ],
)
def test_has_reply_prefix(subject, expected):
    assert has_reply_prefix(subject) is expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [("Fwd: x", True), ("WG: x", True), ("TR: x", True), ("x (fwd)", True), ("Re: x", False)],
)
def test_has_forward_prefix(subject, expected):
    assert has_forward_prefix(subject) is expected


def test_find_ticket_tags():
    assert find_ticket_tags("Re: [#123] printer [#45]") == [123, 45]
    assert find_ticket_tags("[# 123] [#abc] #123 [123]") == []
    assert find_ticket_tags("") == []


def test_strip_ticket_tag():
    assert strip_ticket_tag("Re: [#123] Printer  broken") == "Re: Printer broken"
    assert strip_ticket_tag("[#1][#2]x") == "x"


def test_strip_prefixes_keeps_case():
    assert strip_prefixes("Re: AW: [#7] Drucker Kaputt") == "Drucker Kaputt"


def test_normalize_subject_long_prefix_runs():
    assert normalize_subject("Re: " * 10_000 + "x") == "x"
    assert normalize_subject("Re: [#1] AW: [#2] Fwd: x") == "x"
