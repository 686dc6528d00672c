"""Forms of the portal's ticket pages: the list's filters (in the URL) and the reply box."""

from django import forms

from tickets.forms import MultipleFileField

MAX_REPLY_FILES = 10


class TicketListForm(forms.Form):
    """Filters live in the URL; anything unknown is dropped, never an error page."""

    state = forms.ChoiceField(
        required=False, choices=[("all", "All"), ("open", "Open"), ("closed", "Closed")]
    )
    q = forms.CharField(required=False, max_length=200, label="Search by subject or number")
    after = forms.CharField(required=False, max_length=80)


class PortalReplyForm(forms.Form):
    body = forms.CharField(
        label="Your reply",
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=100_000,
        error_messages={
            "required": "Write a message before sending.",
            "max_length": "The message is too long: at most %(limit_value)d characters.",
        },
    )
    # Size per file: the foundation's MAX_UPLOAD_SIZE (MultipleFileField checks it).
    attachments = MultipleFileField(required=False, label="Attach files")

    def clean_attachments(self):
        files = self.cleaned_data["attachments"]
        if len(files) > MAX_REPLY_FILES:
            raise forms.ValidationError(
                f"Attach at most {MAX_REPLY_FILES} files to one reply ({len(files)} chosen)."
            )
        return files
