"""A tenant template cannot make a worker build gigabytes or render for ever: nesting is limited
when it is compiled, the text it makes while it renders, and the time it takes.

Nested `{% with %}` and `|add` double a string at each level; tracemalloc proves that no huge
string is ever built (the limits stop it while it grows, not after)."""

import html
import logging
import re
import time
import tracemalloc

import pytest

from outbound_mail import rendering
from outbound_mail.models import EmailTemplate
from outbound_mail.placeholders import sample_values
from tests.factories import make_ticket
from tests.outbound.conftest import parts
from tickets import template_sandbox as sandbox

KIND = "new_ticket_confirmation"
PEAK_BOUND = 50 * 1024 * 1024


def doubling(depth: int) -> str:
    """`depth` nested withs, each doubling the last: 2**depth copies of the subject."""
    opens = "".join(f"{{% with v{i + 1}=v{i}|add:v{i} %}}" for i in range(depth))
    closes = "{% endwith %}" * (depth + 1)
    return f"{{% with v0=ticket_subject %}}{opens}{{{{ v{depth} }}}}{closes}"


def octupling(depth: int) -> str:
    """Within the nesting limit, eight times larger at each level (a chain of adds)."""
    opens = "".join(f"{{% with v{i + 1}=v{i}" + f"|add:v{i}" * 7 + " %}" for i in range(depth))
    closes = "{% endwith %}" * (depth + 1)
    return f"{{% with v0=ticket_subject %}}{opens}{{{{ v{depth} }}}}{closes}"


def many_copies(copies: int) -> str:
    """One 60 KB value shown `copies` times: each copy is small, all of them are not."""
    return octupling(4).replace("{{ v4 }}", "{{v4}}" * copies)


def check(text: str, html_body: str = "") -> None:
    rendering.check(rendering.Source("Hi", text, html_body), sample_values(KIND))


def refused(text: str, **kwargs) -> tuple[str, float, int]:
    """The refusal's message, the seconds it took and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(rendering.TemplateError) as error:
            check(text, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return str(error.value), time.monotonic() - started, peak


def test_a_template_nested_200_deep_is_refused_at_once():
    message, seconds, peak = refused(doubling(200))
    assert message == "Text: Tags are nested more than 10 deep (line 1)."
    assert (seconds < 1.0, peak < PEAK_BOUND) == (True, True)


def test_a_growing_value_is_stopped_while_it_grows():
    message, seconds, peak = refused(octupling(7))
    assert message == (
        "Text: It makes too much text: a template may add at most 1,000,000 characters "
        "to what its placeholders hold."
    )
    assert (seconds < 2.0, peak < PEAK_BOUND) == (True, True)


def test_many_copies_of_a_value_are_stopped_while_the_output_grows():
    message, seconds, peak = refused(many_copies(1000))
    assert message.startswith("Text: It makes too much text")
    assert (seconds < 2.0, peak < PEAK_BOUND) == (True, True)


def test_the_html_part_has_the_same_limits():
    message, _, peak = refused("Hi", html_body=octupling(7))
    assert (message.startswith("HTML: It makes too much text"), peak < PEAK_BOUND) == (True, True)


def test_a_growth_hidden_in_a_condition_is_still_refused():
    # An exception inside `{% if a == b %}` is swallowed by Django's operator (it answers
    # False); the spent limit is remembered and refuses the rest of the render.
    source = octupling(7).replace("{{ v7 }}", '{% if v7 == "x" %}yes{% endif %}')
    message, _, peak = refused(source)
    assert (message.startswith("Text: It makes too much text"), peak < PEAK_BOUND) == (True, True)


def test_rendering_has_a_deadline(monkeypatch):
    monkeypatch.setattr(sandbox, "MAX_RENDER_SECONDS", 0.0, raising=False)
    message, _, _ = refused("Hello {{ requester_name|upper }}")
    assert message == "Subject: Rendering took longer than 0 seconds."


def test_ordinary_templates_and_large_placeholders_still_render():
    values = {**sample_values(KIND), "message_text": "x" * 1_500_000}
    source = rendering.Source(
        "Re: {{ ticket_subject }}",
        "{% with m=message_text %}{% if m %}{{ m|wordwrap:80 }}{% endif %}{% endwith %}",
        "<p>{{ message_text|linebreaksbr }}</p>",
    )
    rendered = rendering.render(source, values)
    assert (rendered.subject, len(rendered.body_text), len(rendered.body_html)) == (
        "Re: [ticket_subject]",
        1_500_000,  # one long word: wordwrap breaks only at spaces
        1_500_007,
    )


def test_the_editor_shows_why_it_refuses(acme):
    response = acme.client(acme.admin).post(
        f"/settings/templates/{KIND}/",
        {"subject": "Hi", "body_text": doubling(200), "enabled": "on"},
    )
    errors = re.findall(r'<div class="error" role="alert">(.*?)</div>', response.content.decode())
    assert (response.status_code, [html.unescape(e) for e in errors]) == (
        400,
        ["This template cannot be used. Text: Tags are nested more than 10 deep (line 1)."],
    )
    with acme.scope():
        assert EmailTemplate.objects.count() == 0


@pytest.mark.parametrize("source", [doubling(200), octupling(7), many_copies(1000)])
def test_a_stored_hostile_template_fails_at_send_time_without_hurting_the_worker(
    acme, mailer, run, caplog, source
):
    # Saved before these limits existed (or written to the table directly).
    with acme.scope():
        EmailTemplate.objects.create(
            organization=acme.org, kind=KIND, subject="Hi", body_text=source, enabled=True
        )
    tracemalloc.start()
    started = time.monotonic()
    try:
        with acme.scope(), run(), caplog.at_level(logging.WARNING, "outbound_mail"):
            make_ticket(acme.org)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (time.monotonic() - started < 10.0, peak < PEAK_BOUND) == (True, True)
    # The tenant's template failed; the customer still hears from us, in the default words.
    message = {m.rcpt_tos[0]: m.message for m in mailer.wait_for(3)}["carol@customer.test"]
    assert parts(message)["text/plain"].split("\n")[0] == "Hello Carol,"
    assert [
        r.getMessage().split(" of ")[0] for r in caplog.records if "failed" in r.getMessage()
    ] == [f"template {KIND}"]
