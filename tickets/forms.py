"""Forms of the agent workspace: list filters, saved views, reply, properties, bulk changes, new
ticket."""

from django import forms
from django.conf import settings
from django.db.models import Exists, OuterRef

from tenants.models import Membership, Team, User
from tickets import contributions
from tickets.models import CannedResponse, Priority, Status, StatusCategory
from tickets.recipients import parse_addresses
from tickets.saved_views import COLUMNS
from tickets.selectors import SORTS, TicketFilters
from tickets.services.tags import TagError, tag_names_parse


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
    # is_away: pickers mark away agents, who get no automatic assignments (tenants.away_views).
    away = Membership.objects.filter(user_id=OuterRef("pk"), is_away=True)
    return (
        User.objects.filter(pk__in=Membership.objects.values("user_id"), is_active=True)
        .annotate(is_away=Exists(away))
        .order_by("name", "email")
    )


def _sort_choices() -> list[tuple[str, str]]:
    return [(s, s) for s in [*SORTS, *contributions.list_sorts()]]


def _only_choices() -> list[tuple[str, str]]:
    return [(f.value, f.label) for f in contributions.list_filters().values()]


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
    tag = forms.CharField(required=False, max_length=50)
    sort = forms.ChoiceField(required=False, choices=lambda: _sort_choices())
    # Filters the apps above tickets contribute (`?only=sla_breached`); choices read per form.
    only = forms.ChoiceField(required=False, choices=lambda: _only_choices())
    after = forms.CharField(required=False, max_length=80)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Filters with their own parameter (`?choice=12:Billing`), which apps above contribute.
        for name in contributions.list_params():
            self.fields.setdefault(name, forms.CharField(required=False, max_length=300))

    def clean(self):
        """The contributed parameters' values, together as `params` (TicketFilters.params)."""
        data = super().clean() or {}
        params = {}
        for name in contributions.list_params():
            if name not in TicketFilterForm.base_fields and (value := data.pop(name, "")):
                params[name] = value
        data["params"] = params
        return data


def filters_from_params(params) -> TicketFilters:
    """The list's filters from its URL parameters; invalid values are dropped, so a bad
    bookmark still shows a list."""
    form = TicketFilterForm(params)
    form.is_valid()
    data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    return TicketFilters(**data)


class SavedViewForm(forms.Form):
    """Save the list as it is (its URL's query string) as a view, or rename one."""

    name = forms.CharField(
        max_length=80, strip=True, error_messages={"required": "Give the view a name."}
    )
    # Admins only (the page ignores it for agents): a view every agent sees in the rail.
    shared = forms.BooleanField(required=False)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    columns = forms.MultipleChoiceField(
        required=False,
        choices=[(c.key, c.label) for c in COLUMNS],
        widget=forms.CheckboxSelectMultiple,
    )


# Ids are bigints (BigAutoField); a larger number would overflow the database's comparison.
MAX_ID = 2**63 - 1
SEEN_MESSAGE = "This page's state could not be read. Reload the ticket and send again."
SEEN_ERRORS = dict.fromkeys(("invalid", "min_value", "max_value"), SEEN_MESSAGE)


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
    # Comma-separated; a Cc'd address becomes a collaborator, a Bcc'd one only gets this reply.
    cc = forms.CharField(required=False, max_length=5000)
    bcc = forms.CharField(required=False, max_length=5000)
    # The send guard (tickets.services.send_guard): what the page showed when the agent wrote,
    # the newest comment id and the requester. A post without them is not checked.
    seen_comment = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_ID, error_messages=SEEN_ERRORS
    )
    seen_requester = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, error_messages=SEEN_ERRORS
    )
    # "Send anyway" after the guard held the reply; "Edit first" goes back to the form.
    confirm = forms.BooleanField(required=False)
    edit_first = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].queryset = Status.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField

    @property
    def seen_errors(self) -> list[str]:
        """The page-state fields' errors: a tampered or broken page, not the agent's typing."""
        fields = ("seen_comment", "seen_requester")
        return [str(e) for name in fields for e in self.errors.get(name, [])]

    def clean_cc(self) -> list[str]:
        return parse_addresses(self.cleaned_data["cc"], field="Cc")

    def clean_bcc(self) -> list[str]:
        return parse_addresses(self.cleaned_data["bcc"], field="Bcc")

    def clean(self):
        data = super().clean() or {}
        if data.get("internal") and (data.get("cc") or data.get("bcc")):
            raise forms.ValidationError("An internal note goes to no one: remove Cc and Bcc.")
        return data


class HeldReplyForm(forms.Form):
    """Send a reply the send guard held by mail: the newest comment id its page showed."""

    seen_comment = forms.IntegerField(min_value=0, max_value=MAX_ID, error_messages=SEEN_ERRORS)


class ForwardForm(forms.Form):
    """Forward one message (`comment`) or the ticket's public conversation to any addresses."""

    to = forms.CharField(
        max_length=5000, error_messages={"required": "Forward to whom? Enter an email address."}
    )
    note = forms.CharField(required=False, max_length=20_000, widget=forms.Textarea)
    comment = forms.IntegerField(required=False, min_value=1)

    def clean_to(self) -> list[str]:
        addresses = parse_addresses(self.cleaned_data["to"], field="To")
        if not addresses:
            raise forms.ValidationError("Forward to whom? Enter an email address.")
        return addresses


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


class SelectionForm(forms.Form):
    """The list's selection, as its bulk bar posts it: the ticked rows' numbers, or
    `all_matching`: every ticket the list's filters (`query`) match, up to BULK_LIMIT. Forms of
    what to do with it (this app's BulkForm, a macro's) add their own fields."""

    tickets = forms.CharField(max_length=20_000, required=False)
    all_matching = forms.BooleanField(required=False)
    query = forms.CharField(max_length=2_000, required=False)

    def clean_tickets(self):
        numbers = [n.strip() for n in self.cleaned_data["tickets"].split(",")]
        return [int(n) for n in numbers if n.isdigit()][:BULK_LIMIT]

    def clean(self):
        data = super().clean() or {}
        if not self.errors and not data.get("all_matching") and not data.get("tickets"):
            raise forms.ValidationError(NOTHING_SELECTED)
        return data


class BulkForm(SelectionForm, PropertiesForm):
    """Changes for the selected tickets: an empty choice leaves that property as it is."""

    tags_add = forms.CharField(max_length=500, required=False)
    tags_remove = forms.CharField(max_length=500, required=False)

    def changes(self, post) -> dict:
        """What the agent chose, by name; a property absent or left empty is not a change."""
        data, chosen = self.cleaned_data, {}
        for name in ("status", "priority"):
            if data.get(name):
                chosen[name] = data[name]
        for name in ("assignee", "team"):
            if post.get(name, "") != "":
                chosen[name] = data[name]
        for name in ("tags_add", "tags_remove"):
            if data.get(name):
                chosen[name] = data[name]
        return chosen

    def clean_tags_add(self):
        return _tag_names(self.cleaned_data["tags_add"])

    def clean_tags_remove(self):
        return _tag_names(self.cleaned_data["tags_remove"])


def _tag_names(text: str) -> list[str]:
    try:
        return tag_names_parse(text)
    except TagError as error:
        raise forms.ValidationError(str(error)) from None


class TicketTagsForm(forms.Form):
    """Add tags (comma-separated) to a ticket, or remove one."""

    add = forms.CharField(max_length=500, required=False)
    remove = forms.CharField(max_length=100, required=False)

    def clean_add(self):
        return _tag_names(self.cleaned_data["add"])

    def clean_remove(self):
        return _tag_names(self.cleaned_data["remove"])

    def clean(self):
        data = super().clean() or {}
        if not self.errors and not data.get("add") and not data.get("remove"):
            raise forms.ValidationError("Type a tag to add.")
        return data


BULK_LIMIT = 1000
NOTHING_SELECTED = "Select at least one ticket; nothing was changed."


class NewTicketForm(forms.Form):
    requester_email = forms.EmailField(label="Requester email")
    requester_name = forms.CharField(label="Requester name", required=False, max_length=200)
    subject = forms.CharField(max_length=300)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), max_length=100_000)
    priority = forms.ModelChoiceField(
        queryset=Priority.objects.none(), required=False, empty_label="Default priority"
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, empty_label="No team"
    )
    assignee = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Nobody"
    )
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
