"""The portal's new-ticket form: subject and message, the chosen intake form's fields
(portal.intake) and the files, in that order."""

from django import forms

from portal.intake import PREFIX, add_intake_fields
from portal.models import IntakeForm
from tickets.forms import MultipleFileField

MAX_FILES = 10


class NewTicketForm(forms.Form):
    subject = forms.CharField(
        max_length=300,
        error_messages={
            "required": "Give your request a subject.",
            "max_length": "Keep the subject under %(limit_value)d characters.",
        },
    )
    message = forms.CharField(
        label="How can we help?",
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=100_000,
        error_messages={
            "required": "Describe what you need.",
            "max_length": "The message is too long: at most %(limit_value)d characters.",
        },
    )
    # Size per file: the foundation's MAX_UPLOAD_SIZE (MultipleFileField checks it).
    attachments = MultipleFileField(
        required=False, label="Attachments", help_text=f"Up to {MAX_FILES} files."
    )

    def __init__(self, *args, intake_form: IntakeForm | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        add_intake_fields(self, intake_form)
        extra = [name for name in self.fields if name.startswith(PREFIX)]
        self.order_fields(["subject", "message", *extra, "attachments"])

    def clean_subject(self) -> str:
        subject = self.cleaned_data["subject"].strip()
        if not subject:
            raise forms.ValidationError("Give your request a subject.")
        return subject

    def clean_attachments(self):
        files = self.cleaned_data["attachments"]
        if len(files) > MAX_FILES:
            raise forms.ValidationError(f"Attach at most {MAX_FILES} files ({len(files)} chosen).")
        return files
