"""Forms of the Settings -> SLA pages: calendars (weekly hours as text per weekday, a time
zone), holidays (one by one, or imported for a country and year), policies (conditions,
targets, warning) and the policy page's due-time preview. Every bad value gets a message that
says what to write instead."""

import re
from datetime import date
from functools import cache
from zoneinfo import available_timezones

import holidays as holiday_data
from django import forms
from django.utils import timezone

from sla.calendar import NOT_PLACES, WEEKDAYS, CalendarError, parse_intervals
from sla.models import Calendar, Policy
from tenants.models import Team
from tickets.models import Customer, Priority, Ticket

INTERVAL = re.compile(r"^\s*(\S+?)\s*[-\u2013]\s*(\S+?)\s*$")  # "-" or an en dash
INTERVALS_HELP = 'Like "09:00-12:30, 13:30-17:00"; empty when closed; "24:00" ends the day.'
MAX_TARGET_MINUTES = 60 * 24 * 365  # a year of business minutes is beyond any real target


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(z, z) for z in sorted(available_timezones() - NOT_PLACES)]


@cache
def country_choices() -> list[tuple[str, str]]:
    from holidays.registry import COUNTRIES

    # COUNTRIES: module -> (class name, alpha-2, alpha-3, ...); "UnitedKingdom" reads as words.
    names = {
        entry[1]: re.sub(r"(?<=[a-z])(?=[A-Z])", " ", entry[0]) for entry in COUNTRIES.values()
    }
    return sorted(((code, f"{name} ({code})") for code, name in names.items()), key=_by_name)


def _by_name(choice: tuple[str, str]) -> str:
    return choice[1]


def intervals_from_text(text: str, label: str) -> list[list[str]]:
    """'09:00-12:30, 13:30-17:00' -> [["09:00", "12:30"], ["13:30", "17:00"]], checked by the
    calendar's own rules (raises forms.ValidationError with its message)."""
    pairs = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", text or ""))):
        match = INTERVAL.match(part)
        if match is None:
            raise forms.ValidationError(
                f'{label}: "{part}" is not an interval; write it as start-end, like 09:00-17:00.'
            )
        pairs.append((_padded(match[1]), _padded(match[2])))
    try:
        parsed = parse_intervals(pairs, label)
    except CalendarError as exc:
        raise forms.ValidationError(exc.message) from None
    return [[_hhmm(start), _hhmm(end)] for start, end in parsed]


def intervals_to_text(intervals) -> str:
    return ", ".join(f"{start}-{end}" for start, end in intervals or [])


def _padded(text: str) -> str:
    # "9:00" is what people type; the calendar wants "09:00".
    return f"0{text}" if re.match(r"^\d:\d{2}$", text) else text


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


class CalendarForm(forms.Form):
    name = forms.CharField(max_length=100)
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=time_zone_choices,
        error_messages={"invalid_choice": "Pick a time zone from the list (like Europe/Berlin)."},
    )

    def __init__(self, *args, calendar: Calendar | None = None, **kwargs):
        if calendar is not None and "initial" not in kwargs:
            kwargs["initial"] = {"name": calendar.name, "timezone": calendar.timezone} | {
                f"day_{n}": intervals_to_text((calendar.weekly or {}).get(str(n))) for n in range(7)
            }
        super().__init__(*args, **kwargs)
        self.calendar = calendar
        for n, day in enumerate(WEEKDAYS):
            self.fields[f"day_{n}"] = forms.CharField(
                label=day,
                required=False,
                max_length=200,
                help_text=INTERVALS_HELP if n == 0 else "",
            )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        others = Calendar.objects.filter(name__iexact=name)
        if self.calendar is not None:
            others = others.exclude(pk=self.calendar.pk)
        if others.exists():
            raise forms.ValidationError(f'There is already a calendar named "{name}".')
        return name

    def clean(self):
        data = super().clean() or {}
        weekly = {}
        for n, day in enumerate(WEEKDAYS):
            try:
                weekly[str(n)] = intervals_from_text(data.get(f"day_{n}", ""), day)
            except forms.ValidationError as exc:
                self.add_error(f"day_{n}", exc)
        if not self.errors and not any(weekly.values()):
            raise forms.ValidationError("Give working hours for at least one weekday.")
        data["weekly"] = weekly
        return data

    def values(self) -> dict:
        return {k: self.cleaned_data[k] for k in ("name", "timezone", "weekly")}


class HolidayForm(forms.Form):
    date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date like 2026-12-24."},
    )
    name = forms.CharField(max_length=100, required=False)
    intervals = forms.CharField(
        label="Working hours that day",
        required=False,
        max_length=200,
        help_text='Empty when closed all day; or the hours worked, like "09:00-12:00".',
    )

    def __init__(self, *args, calendar: Calendar, holiday=None, **kwargs):
        if holiday is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "date": holiday.date,
                "name": holiday.name,
                "intervals": intervals_to_text(holiday.intervals),
            }
        kwargs.setdefault("prefix", "holiday")  # beside the calendar form on one page
        super().__init__(*args, **kwargs)
        self.calendar, self.holiday = calendar, holiday

    def clean_date(self):
        when = self.cleaned_data["date"]
        others = self.calendar.holidays.filter(date=when)
        if self.holiday is not None:
            others = others.exclude(pk=self.holiday.pk)
        if others.exists():
            raise forms.ValidationError(f"{when} is already a holiday of this calendar; edit it.")
        return when

    def clean_intervals(self):
        return intervals_from_text(self.cleaned_data["intervals"], "That day")

    def values(self) -> dict:
        return {k: self.cleaned_data[k] for k in ("date", "name", "intervals")}


class HolidayImportForm(forms.Form):
    prefix = "import"
    country = forms.ChoiceField(
        choices=country_choices, error_messages={"invalid_choice": "Pick a country from the list."}
    )
    year = forms.IntegerField(
        min_value=2000,
        max_value=2100,
        error_messages={
            "invalid": "Enter a year like 2026.",
            "min_value": "Pick a year from 2000 to 2100.",
            "max_value": "Pick a year from 2000 to 2100.",
        },
    )

    def holidays(self) -> dict[date, str]:
        found = holiday_data.country_holidays(
            self.cleaned_data["country"], years=self.cleaned_data["year"]
        )
        return dict(sorted(found.items()))


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    calendar = forms.ModelChoiceField(
        queryset=Calendar.objects.none(), empty_label=None, help_text="When the clock runs."
    )
    priorities = forms.ModelMultipleChoiceField(
        queryset=Priority.objects.none(), required=False, help_text="Any of these; none: any."
    )
    customers = forms.ModelMultipleChoiceField(
        queryset=Customer.objects.none(), required=False, help_text="Any of these; none: any."
    )
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.none(), required=False, help_text="Any of these; none: any."
    )
    sources = forms.MultipleChoiceField(
        choices=Ticket.Source.choices, required=False, help_text="Any of these; none: any."
    )
    customer_domains = forms.CharField(
        label="Requester's email domains",
        required=False,
        max_length=1000,
        help_text="Comma-separated, like example.com; empty: any.",
    )
    first_response_minutes = forms.IntegerField(
        label="First response (business minutes)",
        required=False,
        min_value=1,
        max_value=MAX_TARGET_MINUTES,
    )
    next_response_minutes = forms.IntegerField(
        label="Next response (business minutes)",
        required=False,
        min_value=1,
        max_value=MAX_TARGET_MINUTES,
    )
    resolution_minutes = forms.IntegerField(
        label="Resolution (business minutes)",
        required=False,
        min_value=1,
        max_value=MAX_TARGET_MINUTES,
    )
    warn_percent = forms.IntegerField(
        label="Warn at this percent of the target elapsed",
        required=False,
        min_value=1,
        max_value=99,
    )
    warn_minutes_before = forms.IntegerField(
        label="Or warn this many business minutes before due",
        required=False,
        min_value=1,
        max_value=MAX_TARGET_MINUTES,
    )

    def __init__(self, *args, policy: Policy | None = None, **kwargs):
        if policy is not None and "initial" not in kwargs:
            kwargs["initial"] = _policy_initial(policy)
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = Calendar.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["priorities"].queryset = Priority.objects.order_by("-rank", "id")  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["customers"].queryset = Customer.objects.order_by("name")  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["teams"].queryset = Team.objects.order_by("name")  # type: ignore[attr-defined]  # a ModelChoiceField
        if policy is None and "calendar" not in self.initial:
            self.initial["calendar"] = Calendar.objects.filter(is_default=True).first()

    def clean_customer_domains(self):
        domains = []
        for raw in re.split(r"[,\s]+", self.cleaned_data["customer_domains"].lower()):
            domain = raw.strip().lstrip("@")
            if not domain:
                continue
            if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
                raise forms.ValidationError(f'"{raw}" is not a domain; write it like example.com.')
            domains.append(domain)
        return sorted(set(domains))

    def clean(self):
        data = super().clean() or {}
        targets = ("first_response_minutes", "next_response_minutes", "resolution_minutes")
        if not self.errors and not any(data.get(t) for t in targets):
            raise forms.ValidationError(
                "Set at least one target (first response, next, resolution)."
            )
        return data

    def values(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"].strip(),
            "calendar": data["calendar"],
            "priority_ids": sorted(p.pk for p in data["priorities"]),
            "customer_ids": sorted(c.pk for c in data["customers"]),
            "team_ids": sorted(t.pk for t in data["teams"]),
            "sources": sorted(data["sources"]),
            "customer_domains": data["customer_domains"],
            **{k: data.get(k) for k in TARGET_AND_WARNING_FIELDS},
        }


TARGET_AND_WARNING_FIELDS = (
    "first_response_minutes",
    "next_response_minutes",
    "resolution_minutes",
    "warn_percent",
    "warn_minutes_before",
)


def _policy_initial(policy: Policy) -> dict:
    return {
        "name": policy.name,
        "calendar": policy.calendar_id,
        "priorities": policy.priority_ids,
        "customers": policy.customer_ids,
        "teams": policy.team_ids,
        "sources": policy.sources,
        "customer_domains": ", ".join(policy.customer_domains),
        **{k: getattr(policy, k) for k in TARGET_AND_WARNING_FIELDS},
    }


class PreviewForm(forms.Form):
    """'At this start time (in the calendar's zone), with these targets, due times would be'."""

    start = forms.DateTimeField(
        label="Start (in the calendar's time zone)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        error_messages={"invalid": "Enter a start like 2026-12-24 16:55."},
    )
    calendar = forms.ModelChoiceField(queryset=Calendar.objects.none(), empty_label=None)
    first_response_minutes = forms.IntegerField(
        label="First response", required=False, min_value=1, max_value=MAX_TARGET_MINUTES
    )
    next_response_minutes = forms.IntegerField(
        label="Next response", required=False, min_value=1, max_value=MAX_TARGET_MINUTES
    )
    resolution_minutes = forms.IntegerField(
        label="Resolution", required=False, min_value=1, max_value=MAX_TARGET_MINUTES
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "preview")
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = Calendar.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField

    def clean_start(self):
        # The typed time is wall-clock time in the calendar's zone: strip Django's zone.
        return (
            timezone.make_naive(self.cleaned_data["start"])
            if timezone.is_aware(self.cleaned_data["start"])
            else self.cleaned_data["start"]
        )
