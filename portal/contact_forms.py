"""The public contact form: who is writing, about what, their files, the fields of the intake
form the admin chose (portal.intake), and the two fields robots give themselves away with
(portal.antispam: the honeypot and the signed time the form was shown)."""

from django import forms

from portal import antispam
from portal.intake import add_intake_fields
from portal.models import IntakeForm
from tickets.forms import MultipleFileField

MAX_FILES = 10
# Our own fields, in the order shown; the intake form's come between the message and the files.
PERSON_FIELDS = ("name", "email", "subject", "message")


class ContactForm(forms.Form):
    name = forms.CharField(
        label="Your name",
        max_length=200,
        error_messages={"required": "Tell us your name."},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label="Your email address",
        max_length=254,
        help_text="We reply to this address.",
        error_messages={
            "required": "Tell us where to reply.",
            "invalid": "Enter an email address like name@example.com.",
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    subject = forms.CharField(
        max_length=300, error_messages={"required": "Give your message a subject."}
    )
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=100_000,
        error_messages={"required": "Write your message."},
    )
    attachments = MultipleFileField(
        required=False, label="Attachments", help_text=f"Up to {MAX_FILES} files."
    )
    # Robots fill it; people never see it (hidden with CSS, out of the tab order, and
    # aria-hidden on its wrapper in the template).
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    shown = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, intake_form: IntakeForm | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.intake_form = intake_form
        add_intake_fields(self, intake_form)
        extra = [name for name in self.fields if name.startswith("f_")]
        self.order_fields([*PERSON_FIELDS, *extra, "attachments"])

    def visible_fields_for_people(self) -> list[forms.BoundField]:
        """The fields a person fills, in order (not the honeypot nor the token)."""
        hidden = (antispam.HONEYPOT_FIELD, antispam.TOKEN_FIELD)
        return [self[name] for name in self.fields if name not in hidden]

    def clean_attachments(self):
        files = self.cleaned_data.get("attachments") or []
        if len(files) > MAX_FILES:
            raise forms.ValidationError(f"Attach at most {MAX_FILES} files.")
        return files
