"""What agents see of intake forms: the "Submitted with" card on the ticket page (a fixed
number of queries), and the ticket list's filter on a choice field's answer (SubmittedChoice),
which never finds another tenant's tickets."""

import re

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.intake import IntakeAnswer
from portal.models import IntakeField, IntakeForm
from portal.services.intake import portal_ticket_create
from tests.factories import make_ticket
from tests.portal.conftest import make_contact
from tickets.models import Priority, Ticket

Kind = IntakeField.Kind


def _form_with_area(tenant, name="Bug report") -> tuple[IntakeForm, IntakeField]:
    with tenant.scope():
        intake_form = IntakeForm.objects.create(organization=tenant.org, name=name)
        area = IntakeField.objects.create(
            organization=tenant.org,
            form=intake_form,
            key="area",
            label="Area",
            kind=Kind.SINGLE_CHOICE,
            choices=["Web", "App"],
        )
    return intake_form, area


def _submit(tenant, intake_form, area, chosen: str, *, email="pat@example.test") -> Ticket:
    contact = make_contact(tenant, email)
    with tenant.scope():
        answer = IntakeAnswer(
            values=[
                {"key": "area", "label": "Area", "kind": "single_choice", "value": chosen},
                {
                    "key": "os",
                    "label": "Systems",
                    "kind": "multiple_choice",
                    "value": ["Linux", "Mac <b>"],
                },
                {"key": "note", "label": "Note", "kind": "short_text", "value": ""},
            ],
            choices=[(area, chosen)],
        )
        return portal_ticket_create(
            organization=tenant.org,
            requester=contact,
            subject=f"About {chosen}",
            body_text="Hello",
            source=Ticket.Source.PORTAL,
            intake_form=intake_form,
            answer=answer,
        )


def _numbers(response) -> list[int]:
    return [int(n) for n in re.findall(r'data-number="(\d+)"', response.content.decode())]


def _queries(client, url) -> int:
    cache.clear()  # rail counts are cached; measure every page cold
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_ticket_page_shows_the_submitted_values(acme):
    intake_form, area = _form_with_area(acme)
    ticket = _submit(acme, intake_form, area, "App")
    html = acme.client(acme.agent).get(f"/agent/tickets/{ticket.number}/").content.decode()
    card = re.search(r'<section class="card intake-submission".*?</section>', html, re.S).group(0)
    assert "Submitted with Bug report" in card
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", card, re.S)
    assert pairs == [
        ("Area", "App"),
        ("Systems", "Linux, Mac &lt;b&gt;"),
        ("Note", '<span class="muted">—</span>'),
    ]


def test_a_ticket_without_a_submission_has_no_card(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
    html = acme.client(acme.agent).get(f"/agent/tickets/{ticket.number}/").content.decode()
    assert "intake-submission" not in html


def test_the_ticket_page_query_count_is_the_same_with_or_without_a_submission(acme):
    client = acme.client(acme.agent)
    with acme.scope():
        plain = make_ticket(acme.org)
    without = _queries(client, f"/agent/tickets/{plain.number}/")
    intake_form, area = _form_with_area(acme)
    submitted = _submit(acme, intake_form, area, "Web")
    assert _queries(client, f"/agent/tickets/{submitted.number}/") == without


def test_the_list_filters_on_a_choice_fields_answer(acme):
    intake_form, area = _form_with_area(acme)
    web = _submit(acme, intake_form, area, "Web")
    app = _submit(acme, intake_form, area, "App", email="sam@example.test")
    with acme.scope():
        make_ticket(acme.org)
    client = acme.client(acme.agent)
    assert _numbers(client.get(f"/agent/?view=all&choice={area.pk}:Web")) == [web.number]
    assert _numbers(client.get(f"/agent/?view=all&choice={area.pk}:App")) == [app.number]
    assert _numbers(client.get(f"/agent/?view=all&choice={area.pk}:Fax")) == []
    assert _numbers(client.get("/agent/?view=all&choice=junk")) == []
    assert len(_numbers(client.get("/agent/?view=all&choice="))) == 3


def test_the_lists_filter_offers_the_tenants_choice_options(acme, globex):
    _, area = _form_with_area(acme)
    _, theirs = _form_with_area(globex, name="Their form")
    html = acme.client(acme.agent).get(f"/agent/?view=all&choice={area.pk}:App").content.decode()
    select = re.search(r'<select name="choice".*?</select>', html, re.S).group(0)
    assert '<optgroup label="Bug report: Area">' in select
    assert re.findall(r'<option value="([^"]*)" ?(selected)?>', select) == [
        ("", ""),
        (f"{area.pk}:Web", ""),
        (f"{area.pk}:App", "selected"),
    ]
    assert f"{theirs.pk}:" not in select


def test_the_list_shows_no_answer_filter_without_choice_fields(acme):
    with acme.scope():
        intake_form = IntakeForm.objects.create(organization=acme.org, name="Text only")
        IntakeField.objects.create(
            organization=acme.org, form=intake_form, key="t", label="T", kind=Kind.SHORT_TEXT
        )
    assert 'name="choice"' not in acme.client(acme.agent).get("/agent/").content.decode()


def test_another_tenants_field_id_finds_nothing(acme, globex):
    theirs_form, theirs_area = _form_with_area(globex)
    _submit(globex, theirs_form, theirs_area, "Web")
    intake_form, area = _form_with_area(acme)
    _submit(acme, intake_form, area, "Web")
    client = acme.client(acme.agent)
    assert _numbers(client.get(f"/agent/?view=all&choice={theirs_area.pk}:Web")) == []


def test_the_list_query_count_is_fixed_with_the_answer_filter(acme):
    intake_form, area = _form_with_area(acme)
    client = acme.client(acme.agent)
    _submit(acme, intake_form, area, "Web")
    urls = ["/agent/?view=all", f"/agent/?view=all&choice={area.pk}:Web"]
    one = [_queries(client, url) for url in urls]
    for i in range(49):
        _submit(acme, intake_form, area, "Web", email=f"p{i}@example.test")
    assert [_queries(client, url) for url in urls] == one
    assert len(_numbers(client.get(urls[1]))) == 50


def test_bulk_all_matching_follows_the_answer_filter(acme):
    intake_form, area = _form_with_area(acme)
    web = _submit(acme, intake_form, area, "Web")
    app = _submit(acme, intake_form, area, "App", email="sam@example.test")
    client = acme.client(acme.agent)
    with acme.scope():
        top = Priority.objects.order_by("-rank").first()
    client.post(
        "/agent/tickets/bulk/",
        {"all_matching": "1", "query": f"view=all&choice={area.pk}:App", "priority": top.pk},
    )
    with acme.scope():
        assert Ticket.objects.get(pk=app.pk).priority_id == top.pk
        assert Ticket.objects.get(pk=web.pk).priority_id != top.pk
