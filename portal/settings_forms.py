"""Settings -> Portal's forms: the portal's switches and texts, the search of the customers
list, and one customer's company-wide visibility switch."""

from django import forms
from django.core.validators import MaxLengthValidator

from portal.models import IntakeForm, PortalSettings

WELCOME_MAX = 2000
LABEL_FIELDS = {
    "label_new": ("New tickets", "Shown for tickets nobody has answered yet."),
    "label_open": ("Open tickets", "Shown while you work on a ticket."),
    "label_pending": ("Pending tickets", "Shown while you wait for the customer."),
    "label_resolved": ("Resolved tickets", "Shown once a ticket is solved."),
    "label_closed": ("Closed tickets", "Shown for closed tickets."),
}


class PortalSettingsForm(forms.ModelForm):
    # Declared: the model's default field would query the scoped manager when the class is
    # made (at import, outside any tenant); the tenant's forms are set in __init__.
    contact_form_intake = forms.ModelChoiceField(
        queryset=IntakeForm.objects.none(),
        required=False,
        label="Fields the contact form adds",
        help_text="The fields of this intake form are asked on the contact form too. Only "
        "enabled forms are listed.",
    )

    class Meta:
        model = PortalSettings
        fields = [
            "portal_enabled",
            "contact_form_enabled",
            "contact_form_intake",
            "welcome_text",
            *LABEL_FIELDS,
        ]
        labels = {
            "portal_enabled": "The portal is on",
            "contact_form_enabled": "The public contact form is on",
            "welcome_text": "Welcome text",
        }
        help_texts = {
            "portal_enabled": "Customers sign in at your portal's address to see and answer "
            "their tickets. Off: its pages are not found.",
            "contact_form_enabled": "Anyone may write to you through it, with or without "
            "an account, also in its embeddable version; it works whether or not the portal is on.",
            "welcome_text": "Shown on the portal's front page.",
        }
        widgets = {"welcome_text": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        intake = self.fields["contact_form_intake"]
        intake.queryset = IntakeForm.objects.filter(enabled=True)  # type: ignore[attr-defined]  # a ModelChoiceField
        intake.empty_label = "None: name, email, subject and message only"  # type: ignore[attr-defined]  # a ModelChoiceField
        intake.error_messages["invalid_choice"] = "Choose one of your enabled intake forms."
        welcome = self.fields["welcome_text"]
        welcome.validators.append(MaxLengthValidator(WELCOME_MAX))
        welcome.error_messages["max_length"] = f"Keep the welcome text to {WELCOME_MAX} characters."
        for name, (label, help_text) in LABEL_FIELDS.items():
            field = self.fields[name]
            field.label = f"Label for {label.lower()}"
            field.help_text = help_text
            field.error_messages["required"] = "Give this status a label customers see."
            field.error_messages["max_length"] = "Keep the label to 60 characters or fewer."


class CustomerSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Find a customer")
    page = forms.IntegerField(required=False, min_value=1)


class CompanyAccessForm(forms.Form):
    allowed = forms.TypedChoiceField(
        choices=[("1", "Allowed"), ("0", "Not allowed")],
        coerce=lambda value: value == "1",
        error_messages={"invalid_choice": "Choose whether the company's contacts see all."},
    )
