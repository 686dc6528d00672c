"""The report's filters from the query string: a date range (at most two years; the last 30
days when none is given), a team among those the viewer may see, and a channel. Every value is
checked; a bad one is a message on the form, never an error page."""

from datetime import date, timedelta

from django import forms

from reports.selectors import Filters
from tickets.models import Ticket

MAX_DAYS = 731
DEFAULT_DAYS = 30
FORMATS = ("", "html", "csv")


class ReportForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    channel = forms.ChoiceField(required=False)

    def __init__(self, data, *, teams: list[tuple[int, str]], all_teams: bool, today: date):
        super().__init__(data)
        self.today = today
        self.allowed_team_ids = tuple(pk for pk, _ in teams)
        self.all_teams = all_teams
        everyone = "Every team" if all_teams else "All my teams"
        team, channel = self.fields["team"], self.fields["channel"]
        team.choices = [("", everyone), *teams]  # type: ignore[attr-defined]  # a ChoiceField
        channel.choices = [("", "Every channel"), *Ticket.Source.choices]  # type: ignore[attr-defined]  # a ChoiceField

    def clean(self):
        data = super().clean() or {}
        if "start" in self.errors or "end" in self.errors:
            return data
        end = data.get("end") or self.today
        try:
            start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        except OverflowError:
            raise forms.ValidationError("Choose a start date.") from None
        if start > end:
            raise forms.ValidationError("The start date must not be after the end date.")
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"Choose a range of at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        team = data.get("team")
        if team is not None:
            team_ids: tuple[int, ...] | None = (team,)
        else:
            team_ids = None if self.all_teams else self.allowed_team_ids
        return Filters(data["start"], data["end"], team_ids, data.get("channel") or "")
