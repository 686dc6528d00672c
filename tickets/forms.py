"""Forms of the agent workspace: list filters, reply, properties, bulk changes, new ticket."""

from django import forms
from django.conf import settings

from tenants.models import Membership, Team, User
from tickets.models import CannedResponse, Priority, Status, StatusCategory
from tickets.selectors import SORTS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        cleaned = [super(MultipleFileField, self).clean(f, initial) for f in files]
        for f in cleaned:
            if f.size > settings.MAX_UPLOAD_SIZE:
                limit = settings.MAX_UPLOAD_SIZE // (1024 * 1024)
                raise forms.ValidationError(f"{f.name} is larger than {limit} MB.")
        return cleaned


def agents_queryset():
    return User.objects.filter(
        pk__in=Membership.objects.values("user_id"), is_active=True
    ).order_by("name", "email")


class TicketFilterForm(forms.Form):
    """Filters live in the URL; anything unknown is ignored rather than an error."""

    view = forms.ChoiceField(
        required=False,
        choices=[(v, v) for v in ("open", "mine", "unassigned", "pending", "resolved", "all")],
    )
    category = forms.ChoiceField(required=False, choices=[("", "Any"), *StatusCategory.choices])
    assignee = forms.CharField(required=False, max_length=20)
    team = forms.IntegerField(required=False, min_value=1)
    priority = forms.IntegerField(required=False, min_value=1)
    q = forms.CharField(required=False, max_length=200)
    sort = forms.ChoiceField(required=False, choices=[(s, s) for s in SORTS])
    after = forms.CharField(required=False, max_length=80)


class ReplyForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=100_000,
        error_messages={"required": "Write a message before sending."},
    )
    internal = forms.BooleanField(required=False)
    send_now = forms.BooleanField(required=False)
    attachments = MultipleFileField(required=False)
    status = forms.ModelChoiceField(queryset=Status.objects.none(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].queryset = Status.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField


class PropertiesForm(forms.Form):
    """One property changed in place; the others are left as they are."""

    status = forms.ModelChoiceField(queryset=Status.objects.none(), required=False)
    priority = forms.ModelChoiceField(queryset=Priority.objects.none(), required=False)
    assignee = forms.CharField(required=False, max_length=20)
    team = forms.CharField(required=False, max_length=20)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].queryset = Status.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["priority"].queryset = Priority.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField

    def clean_assignee(self):
        value = self.cleaned_data["assignee"]
        if value in ("", "none"):
            return None
        user = agents_queryset().filter(pk=int(value)).first() if value.isdigit() else None
        if user is None:
            raise forms.ValidationError("Pick an agent of this helpdesk.")
        return user

    def clean_team(self):
        value = self.cleaned_data["team"]
        if value in ("", "none"):
            return None
        team = Team.objects.filter(pk=int(value)).first() if value.isdigit() else None
        if team is None:
            raise forms.ValidationError("Pick a team of this helpdesk.")
        return team


class BulkForm(PropertiesForm):
    tickets = forms.CharField(max_length=20_000)

    def clean_tickets(self):
        numbers = [n for n in self.cleaned_data["tickets"].split(",") if n.strip().isdigit()]
        if not numbers:
            raise forms.ValidationError("Select at least one ticket.")
        return [int(n) for n in numbers][:500]


class NewTicketForm(forms.Form):
    requester_email = forms.EmailField(label="Requester email")
    requester_name = forms.CharField(label="Requester name", required=False, max_length=200)
    subject = forms.CharField(max_length=300)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), max_length=100_000)
    priority = forms.ModelChoiceField(queryset=Priority.objects.none(), required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False)
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    attachments = MultipleFileField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["priority"].queryset = Priority.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["team"].queryset = Team.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["assignee"].queryset = agents_queryset()  # type: ignore[attr-defined]  # a ModelChoiceField


class CannedResponseForm(forms.ModelForm):
    class Meta:
        model = CannedResponse
        fields = ["name", "body"]
