"""Settings pages look alike: one form layout, and the tab you are on is marked."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tabs(html: str) -> list[tuple[str, str]]:
    nav = html.split('<nav class="tabs"')[1].split("</nav>")[0]
    return re.findall(r'<a href="[^"]+" ?(aria-current="page" class="active")?>([^<]+)</a>', nav)


def test_quarantine_marks_the_active_tab(acme):
    client = acme.client(acme.admin)
    waiting = _tabs(client.get("/settings/mail/quarantine/").content.decode())
    ignored = _tabs(client.get("/settings/mail/quarantine/?show=ignored").content.decode())
    assert [bool(current) for current, _label in waiting] == [True, False]
    assert [bool(current) for current, _label in ignored] == [False, True]


def test_the_active_tab_has_a_visible_style():
    css = (ROOT / "static" / "css" / "app.css").read_text()
    rule = re.search(r'\.tabs a\[aria-current="page"\][^{]*\{([^}]*)\}', css)
    assert rule is not None
    assert "font-weight: 600" in rule.group(1)
    assert "background" in rule.group(1)


FIELD_MARKUP = re.compile(
    r"id_for_label|\{\{ ?field ?\}\}|\.as_(p|div|table|ul)\b|\{\{ ?form ?\}\}"
)


def _settings_templates() -> list[Path]:
    pages = [
        path
        for path in (ROOT / "templates").rglob("*.html")
        if '{% extends "settings/base.html" %}' in path.read_text()
    ]
    includes = [ROOT / "templates/inbound_mail/_form.html"]
    includes.append(ROOT / "templates/inbound_mail/_action_form.html")
    return pages + includes


def test_settings_pages_of_every_app_lay_fields_out_through_one_include():
    apps = {path.relative_to(ROOT / "templates").parts[0] for path in _settings_templates()}
    assert {"settings", "inbound_mail", "outbound_mail"} <= apps
    own_markup = {
        str(path.relative_to(ROOT)): FIELD_MARKUP.findall(path.read_text())
        for path in _settings_templates()
    }
    assert {path: found for path, found in own_markup.items() if found} == {}
    loops = [p for p in _settings_templates() if "{% for field in" in p.read_text()]
    assert [
        p.name for p in loops if '{% include "settings/_field.html" %}' not in p.read_text()
    ] == []
    for name in ("_form.html", "_action_form.html"):
        text = (ROOT / "templates/inbound_mail" / name).read_text()
        assert '{% include "settings/_form.html" %}' in text


def test_one_layout_renders_checkboxes_inline_and_help_below(acme):
    client = acme.client(acme.admin)
    statuses = client.get("/settings/statuses/").content.decode()
    assert re.search(
        r'<label class="check"><input type="checkbox" name="pauses_sla" id="id_pauses_sla"> '
        r"Pauses SLA timers</label>",
        statuses,
    )
    assert '<label for="id_name">Name <span aria-hidden="true">*</span></label>' in statuses
    spam = client.get("/settings/mail/spam/").content.decode()
    mailbox = client.get("/settings/mail/mailboxes/new/").content.decode()
    assert spam.count('<small class="muted">') >= 1
    assert '<div class="field' in mailbox
    assert '<label for="id_name">Name <span aria-hidden="true">*</span></label>' in mailbox
