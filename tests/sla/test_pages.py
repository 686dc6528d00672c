"""Settings -> SLA: calendars (weekly hours, time zone, default), holidays (one by one and
imported), policies (conditions, targets, warning, order) and the due-time preview; admins
only, another tenant's rows a 404, bad input a clear message."""

import re
from datetime import date

import pytest

from sla.models import Calendar, Holiday, Policy
from tickets.models import Priority

WEEKDAYS_9_TO_5 = {f"day_{n}": "09:00-17:00" for n in range(5)}


@pytest.fixture
def admin(acme):
    return acme.client(acme.admin)


def _calendar(org, name="Office", tz="Europe/Berlin", **kwargs):
    weekly = {str(n): [["09:00", "17:00"]] for n in range(5)}
    return Calendar.objects.create(
        organization=org, name=name, timezone=tz, weekly=weekly, **kwargs
    )


def _policy(org, calendar, name="Default", order=1, **kwargs):
    kwargs.setdefault("first_response_minutes", 60)
    return Policy.objects.create(
        organization=org, name=name, order=order, calendar=calendar, **kwargs
    )


def _errors(response) -> str:
    return response.content.decode()


# -- access ---------------------------------------------------------------------------------------

PAGES = ["/settings/sla/", "/settings/sla/calendars/", "/settings/sla/policies/new/"]


@pytest.mark.parametrize("url", PAGES)
def test_sla_pages_are_for_admins_of_this_tenant_only(acme, globex, url):
    with acme.scope():
        _calendar(acme.org)
    assert acme.client(acme.admin).get(url).status_code == 200
    assert acme.client(acme.agent).get(url).status_code == 404
    assert acme.client(globex.admin).get(url).status_code == 404
    assert acme.client().get(url).status_code == 302


def test_sla_pages_are_in_the_settings_navigation(acme, admin):
    body = admin.get("/settings/statuses/").content.decode()
    assert re.search(r'href="/settings/sla/"[^>]*>SLA policies</a>', body)
    assert re.search(r'href="/settings/sla/calendars/"[^>]*>SLA calendars</a>', body)


def test_another_tenants_calendar_policy_and_holiday_are_404(acme, globex, admin):
    with globex.scope():
        calendar = _calendar(globex.org)
        policy = _policy(globex.org, calendar)
        holiday = Holiday.objects.create(
            organization=globex.org, calendar=calendar, date=date(2026, 12, 25), name="Xmas"
        )
    with acme.scope():
        own = _calendar(acme.org, name="Ours")
    gets = [
        f"/settings/sla/calendars/{calendar.pk}/",
        f"/settings/sla/policies/{policy.pk}/",
        f"/settings/sla/calendars/{own.pk}/?holiday={holiday.pk}",
    ]
    assert [admin.get(u).status_code for u in gets] == [404] * 3
    posts = [
        f"/settings/sla/calendars/{calendar.pk}/",
        f"/settings/sla/calendars/{calendar.pk}/default/",
        f"/settings/sla/calendars/{calendar.pk}/delete/",
        f"/settings/sla/calendars/{calendar.pk}/holidays/",
        f"/settings/sla/calendars/{calendar.pk}/holidays/import/",
        f"/settings/sla/calendars/{calendar.pk}/holidays/{holiday.pk}/delete/",
        f"/settings/sla/calendars/{own.pk}/holidays/{holiday.pk}/delete/",
        f"/settings/sla/policies/{policy.pk}/",
        f"/settings/sla/policies/{policy.pk}/move/",
        f"/settings/sla/policies/{policy.pk}/delete/",
    ]
    data = {"name": "Stolen", "timezone": "UTC", "day_0": "09:00-17:00", "date": "2026-01-01"}
    assert [admin.post(u, data).status_code for u in posts] == [404] * 10
    with globex.scope():
        assert list(Calendar.objects.values_list("name", flat=True)) == ["Office"]
        assert Holiday.objects.filter(pk=holiday.pk).exists()
        assert Policy.objects.filter(pk=policy.pk).exists()
    with acme.scope():
        assert Calendar.objects.get(pk=own.pk).name == "Ours"


def test_lists_show_only_this_tenants_rows(acme, globex, admin):
    with globex.scope():
        _policy(globex.org, _calendar(globex.org, name="Globex hours"), name="Globex gold")
    with acme.scope():
        _policy(acme.org, _calendar(acme.org, name="Acme hours"), name="Acme standard")
    policies = admin.get("/settings/sla/").content.decode()
    calendars = admin.get("/settings/sla/calendars/").content.decode()
    assert "Acme standard" in policies
    assert "Globex gold" not in policies
    assert "Acme hours" in calendars
    assert "Globex hours" not in calendars


# -- calendars ------------------------------------------------------------------------------------


def test_create_calendar_with_split_days_and_time_zone(acme, admin):
    data = {"name": "Berlin office", "timezone": "Europe/Berlin", **WEEKDAYS_9_TO_5}
    data["day_0"] = "9:00-12:30, 13:30-17:00"
    data["day_5"] = "22:00-24:00"
    response = admin.post("/settings/sla/calendars/", data)
    with acme.scope():
        calendar = Calendar.objects.get()
    assert response["Location"] == f"/settings/sla/calendars/{calendar.pk}/"
    assert (calendar.name, calendar.timezone, calendar.is_default) == (
        "Berlin office",
        "Europe/Berlin",
        True,
    )
    assert calendar.weekly == {
        "0": [["09:00", "12:30"], ["13:30", "17:00"]],
        "1": [["09:00", "17:00"]],
        "2": [["09:00", "17:00"]],
        "3": [["09:00", "17:00"]],
        "4": [["09:00", "17:00"]],
        "5": [["22:00", "24:00"]],
        "6": [],
    }
    page = admin.get(f"/settings/sla/calendars/{calendar.pk}/").content.decode()
    assert 'value="09:00-12:30, 13:30-17:00"' in page


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("17:00-09:00", "Monday: 17:00-09:00 must end after it starts."),
        ("09:00-12:30, 12:00-17:00", "Monday: 12:00-17:00 overlaps 09:00-12:30."),
        ("09:00-25:00", "Monday: &#x27;25:00&#x27; is not a time"),
        ("nine to five", "Monday: &quot;nine to five&quot; is not an interval"),
        ("24:00-24:00", "Monday: &#x27;24:00&#x27; is not a time"),
    ],
)
def test_bad_intervals_get_a_clear_message_and_nothing_is_saved(acme, admin, day, message):
    data = {"name": "Office", "timezone": "UTC", **WEEKDAYS_9_TO_5, "day_0": day}
    response = admin.post("/settings/sla/calendars/", data)
    assert response.status_code == 400
    assert message in _errors(response)
    with acme.scope():
        assert Calendar.objects.count() == 0


def test_calendar_needs_a_known_zone_a_unique_name_and_some_hours(acme, admin):
    with acme.scope():
        _calendar(acme.org, name="Office")
    bad_zone = admin.post(
        "/settings/sla/calendars/", {"name": "X", "timezone": "Mars/Olympus", **WEEKDAYS_9_TO_5}
    )
    same_name = admin.post(
        "/settings/sla/calendars/", {"name": "office", "timezone": "UTC", **WEEKDAYS_9_TO_5}
    )
    no_hours = admin.post("/settings/sla/calendars/", {"name": "Never", "timezone": "UTC"})
    assert [r.status_code for r in (bad_zone, same_name, no_hours)] == [400, 400, 400]
    assert "Pick a time zone from the list" in _errors(bad_zone)
    assert "There is already a calendar named &quot;office&quot;." in _errors(same_name)
    assert "Give working hours for at least one weekday." in _errors(no_hours)
    with acme.scope():
        assert Calendar.objects.count() == 1


def test_edit_calendar_changes_hours(acme, admin):
    with acme.scope():
        calendar = _calendar(acme.org)
    data = {"name": "Office", "timezone": "America/New_York", "day_2": "08:00-16:00"}
    response = admin.post(f"/settings/sla/calendars/{calendar.pk}/", data)
    assert response.status_code == 302
    with acme.scope():
        calendar.refresh_from_db()
    assert calendar.timezone == "America/New_York"
    assert calendar.weekly["2"] == [["08:00", "16:00"]]
    assert calendar.weekly["0"] == []


def test_make_default_moves_the_flag_and_delete_refuses_a_used_calendar(acme, admin):
    with acme.scope():
        first = _calendar(acme.org, name="First", is_default=True)
        second = _calendar(acme.org, name="Second")
        _policy(acme.org, first, name="Uses first")
    admin.post(f"/settings/sla/calendars/{second.pk}/default/")
    with acme.scope():
        assert list(Calendar.objects.filter(is_default=True).values_list("name", flat=True)) == [
            "Second"
        ]
    refused = admin.post(f"/settings/sla/calendars/{first.pk}/delete/", follow=True)
    assert "Policies use “First” (Uses first): give them another calendar first." in _errors(
        refused
    )
    admin.post(f"/settings/sla/calendars/{second.pk}/delete/")
    with acme.scope():
        assert list(Calendar.objects.values_list("name", "is_default")) == [("First", True)]


# -- holidays -------------------------------------------------------------------------------------


def test_add_edit_and_delete_holidays(acme, admin):
    with acme.scope():
        calendar = _calendar(acme.org)
    url = f"/settings/sla/calendars/{calendar.pk}/holidays/"
    admin.post(
        url, {"holiday-date": "2026-12-25", "holiday-name": "Christmas", "holiday-intervals": ""}
    )
    admin.post(
        url,
        {
            "holiday-date": "2026-12-24",
            "holiday-name": "Christmas Eve",
            "holiday-intervals": "09:00-12:00",
        },
    )
    with acme.scope():
        eve = Holiday.objects.get(date=date(2026, 12, 24))
        assert list(Holiday.objects.values_list("date", "name", "intervals")) == [
            (date(2026, 12, 24), "Christmas Eve", [["09:00", "12:00"]]),
            (date(2026, 12, 25), "Christmas", []),
        ]
    page = admin.get(f"/settings/sla/calendars/{calendar.pk}/?holiday={eve.pk}").content.decode()
    assert 'value="09:00-12:00"' in page
    admin.post(
        url,
        {
            "id": eve.pk,
            "holiday-date": "2026-12-24",
            "holiday-name": "Eve",
            "holiday-intervals": "10:00-13:00",
        },
    )
    admin.post(f"/settings/sla/calendars/{calendar.pk}/holidays/{eve.pk}/delete/")
    with acme.scope():
        assert list(Holiday.objects.values_list("name", flat=True)) == ["Christmas"]


def test_bad_holidays_get_clear_messages(acme, admin):
    with acme.scope():
        calendar = _calendar(acme.org)
        Holiday.objects.create(organization=acme.org, calendar=calendar, date=date(2026, 1, 1))
    url = f"/settings/sla/calendars/{calendar.pk}/holidays/"
    cases = [
        ({"holiday-date": "tomorrow"}, "Enter a date like 2026-12-24."),
        ({"holiday-date": "2026-01-01"}, "2026-01-01 is already a holiday"),
        ({"holiday-date": "2026-05-01", "holiday-intervals": "12:00-09:00"}, "must end after"),
    ]
    for data, message in cases:
        response = admin.post(url, data)
        assert response.status_code == 400
        assert message in _errors(response)
    with acme.scope():
        assert Holiday.objects.count() == 1


def test_import_holidays_for_a_country_keeps_edited_dates(acme, admin):
    with acme.scope():
        calendar = _calendar(acme.org)
        Holiday.objects.create(
            organization=acme.org,
            calendar=calendar,
            date=date(2026, 12, 25),
            name="Our own Christmas",
            intervals=[["10:00", "12:00"]],
        )
    url = f"/settings/sla/calendars/{calendar.pk}/holidays/import/"
    response = admin.post(url, {"import-country": "DE", "import-year": "2026"}, follow=True)
    assert "Imported 8 holidays for DE 2026; 1 dates were already set and kept." in _errors(
        response
    )
    with acme.scope():
        rows = dict(Holiday.objects.values_list("date", "name"))
        kept = Holiday.objects.get(date=date(2026, 12, 25))
    assert rows[date(2026, 1, 1)] == "New Year's Day"
    assert rows[date(2026, 4, 3)] == "Good Friday"
    assert (kept.name, kept.intervals) == ("Our own Christmas", [["10:00", "12:00"]])
    again = admin.post(url, {"import-country": "DE", "import-year": "2026"}, follow=True)
    assert "Imported 0 holidays for DE 2026; 9 dates were already set and kept." in _errors(again)


def test_import_refuses_unknown_country_and_year(acme, admin):
    with acme.scope():
        calendar = _calendar(acme.org)
    url = f"/settings/sla/calendars/{calendar.pk}/holidays/import/"
    bad_country = admin.post(url, {"import-country": "XX", "import-year": "2026"})
    bad_year = admin.post(url, {"import-country": "DE", "import-year": "99999"})
    assert [bad_country.status_code, bad_year.status_code] == [400, 400]
    assert "Pick a country from the list." in _errors(bad_country)
    assert "Pick a year from 2000 to 2100." in _errors(bad_year)


# -- policies -------------------------------------------------------------------------------------


def test_create_policy_with_conditions_targets_and_warning(acme, admin):
    with acme.scope():
        calendar = _calendar(acme.org, is_default=True)
        urgent = Priority.objects.order_by("-rank").first()
    response = admin.post(
        "/settings/sla/policies/new/",
        {
            "name": "Urgent",
            "calendar": calendar.pk,
            "priorities": [urgent.pk],
            "teams": [acme.team.pk],
            "sources": ["email", "portal"],
            "customer_domains": "Example.com, @contoso.example",
            "first_response_minutes": "30",
            "resolution_minutes": "480",
            "warn_percent": "75",
        },
    )
    with acme.scope():
        policy = Policy.objects.get()
    assert response["Location"] == f"/settings/sla/policies/{policy.pk}/"
    assert (policy.priority_ids, policy.team_ids, policy.customer_ids) == (
        [urgent.pk],
        [acme.team.pk],
        [],
    )
    assert policy.sources == ["email", "portal"]
    assert policy.customer_domains == ["contoso.example", "example.com"]
    assert (
        policy.first_response_minutes,
        policy.next_response_minutes,
        policy.resolution_minutes,
    ) == (30, None, 480)
    assert (policy.warn_percent, policy.warn_minutes_before) == (75, None)


def test_bad_policy_input_gets_clear_messages(acme, globex, admin):
    with acme.scope():
        calendar = _calendar(acme.org)
    with globex.scope():
        foreign = _calendar(globex.org)
    base = {"name": "P", "calendar": calendar.pk, "first_response_minutes": "30"}
    cases = [
        ({**base, "first_response_minutes": ""}, "Set at least one target"),
        ({**base, "first_response_minutes": "-5"}, "greater than or equal to 1"),
        ({**base, "first_response_minutes": "soon"}, "Enter a whole number."),
        ({**base, "warn_percent": "150"}, "less than or equal to 99"),
        ({**base, "customer_domains": "not a domain!"}, "is not a domain"),
        ({**base, "calendar": foreign.pk}, "Select a valid choice."),
        ({**base, "priorities": ["999999"]}, "Select a valid choice. 999999"),
        ({**base, "sources": ["fax"]}, "Select a valid choice. fax"),
    ]
    for data, message in cases:
        response = admin.post("/settings/sla/policies/new/", data)
        assert response.status_code == 400, data
        assert message in _errors(response), data
    with acme.scope():
        assert Policy.objects.count() == 0


def test_new_policy_without_a_calendar_sends_admin_to_calendars(acme, admin):
    response = admin.get("/settings/sla/policies/new/", follow=True)
    assert response.redirect_chain == [("/settings/sla/calendars/", 302)]
    assert "Add a calendar first" in _errors(response)


def test_edit_reorder_and_delete_policies(acme, admin):
    with acme.scope():
        calendar = _calendar(acme.org)
        first = _policy(acme.org, calendar, name="First", order=1)
        second = _policy(acme.org, calendar, name="Second", order=2)
    page = admin.get(f"/settings/sla/policies/{first.pk}/").content.decode()
    assert 'value="First"' in page
    admin.post(
        f"/settings/sla/policies/{first.pk}/",
        {"name": "First renamed", "calendar": calendar.pk, "next_response_minutes": "90"},
    )
    admin.post(f"/settings/sla/policies/{second.pk}/move/", {"direction": "up"})
    with acme.scope():
        assert list(Policy.objects.values_list("name", flat=True)) == ["Second", "First renamed"]
        assert Policy.objects.get(pk=first.pk).next_response_minutes == 90
    admin.post(f"/settings/sla/policies/{second.pk}/move/", {"direction": "up"})  # already top
    admin.post(f"/settings/sla/policies/{first.pk}/delete/")
    with acme.scope():
        assert list(Policy.objects.values_list("name", flat=True)) == ["Second"]


def test_saving_a_policy_or_holiday_queues_the_recompute(
    acme, admin, monkeypatch, django_capture_on_commit_callbacks
):
    from sla import queue

    calls = []
    monkeypatch.setattr(queue, "recompute_after_commit", calls.append)
    with acme.scope():
        calendar = _calendar(acme.org)
    admin.post(
        "/settings/sla/policies/new/",
        {"name": "P", "calendar": calendar.pk, "first_response_minutes": "30"},
    )
    admin.post(f"/settings/sla/calendars/{calendar.pk}/holidays/", {"holiday-date": "2026-12-25"})
    admin.post("/settings/sla/policies/new/", {"name": "Bad"})  # invalid: nothing changes
    assert calls == [acme.org.pk, acme.org.pk]


def test_recompute_task_moves_open_timers_after_a_policy_change(
    acme, admin, django_capture_on_commit_callbacks
):
    from sla.models import TicketSLA
    from tests.factories import make_ticket

    with acme.scope():
        calendar = Calendar.objects.create(
            organization=acme.org,
            name="24x7",
            timezone="UTC",
            weekly={str(n): [["00:00", "24:00"]] for n in range(7)},
        )
        policy = _policy(acme.org, calendar, first_response_minutes=60)
        ticket = make_ticket(acme.org)
        before = TicketSLA.objects.get(ticket=ticket, target="first_response")
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(
            f"/settings/sla/policies/{policy.pk}/",
            {"name": "Default", "calendar": calendar.pk, "first_response_minutes": "30"},
        )
    with acme.scope():
        after = TicketSLA.objects.get(pk=before.pk)
    assert (before.due_at - after.due_at).total_seconds() == 30 * 60  # a tighter target


# -- preview --------------------------------------------------------------------------------------


def test_preview_counts_business_time_across_the_weekend_and_a_holiday(acme, admin):
    with acme.scope():
        calendar = _calendar(acme.org)  # Mon-Fri 09:00-17:00, Europe/Berlin
        Holiday.objects.create(
            organization=acme.org, calendar=calendar, date=date(2026, 12, 28), name="Closed"
        )
        policy = _policy(acme.org, calendar, first_response_minutes=60, resolution_minutes=480)
    response = admin.get(
        f"/settings/sla/policies/{policy.pk}/",
        {
            "preview-start": "2026-12-25T16:30",  # a Friday (no holiday on this calendar)
            "preview-calendar": calendar.pk,
            "preview-first_response_minutes": "60",
            "preview-resolution_minutes": "480",
        },
    )
    body = _errors(response)
    assert response.status_code == 200
    assert "Starting <strong>Fri 25 Dec 2026, 16:30</strong> (Europe/Berlin" in body
    # 30 minutes on Friday, then Monday the 28th is a holiday: Tuesday 09:30 and 16:30.
    assert '<td>First response</td><td>60</td><td class="due">Tue 29 Dec 2026, 09:30</td>' in body
    assert '<td>Resolution</td><td>480</td><td class="due">Tue 29 Dec 2026, 16:30</td>' in body


def test_preview_prefills_from_the_policy_and_rejects_bad_input(acme, admin):
    with acme.scope():
        calendar = _calendar(acme.org)
        closed = Calendar.objects.create(
            organization=acme.org, name="Closed", timezone="UTC", weekly={}
        )
        policy = _policy(acme.org, calendar, first_response_minutes=45)
    page = admin.get(f"/settings/sla/policies/{policy.pk}/").content.decode()
    assert 'name="preview-first_response_minutes" value="45"' in page
    bad_start = admin.get(
        f"/settings/sla/policies/{policy.pk}/",
        {"preview-start": "yesterday", "preview-calendar": calendar.pk},
    )
    no_targets = admin.get(
        f"/settings/sla/policies/{policy.pk}/",
        {"preview-start": "2026-12-25T10:00", "preview-calendar": calendar.pk},
    )
    never = admin.get(
        f"/settings/sla/policies/{policy.pk}/",
        {
            "preview-start": "2026-12-25T10:00",
            "preview-calendar": closed.pk,
            "preview-first_response_minutes": "10",
        },
    )
    assert [bad_start.status_code, no_targets.status_code, never.status_code] == [400] * 3
    assert "Enter a start like 2026-12-24 16:55." in _errors(bad_start)
    assert "Give at least one target to preview." in _errors(no_targets)
    assert 'class="error" role="alert"' in _errors(never)
