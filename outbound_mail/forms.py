"""Forms of the outbound mail settings pages: SMTP connection, mail settings, test mail,
notification channels, templates and branding (with the logo's type sniffed from its bytes)."""

from django import forms
from django.core.validators import RegexValidator

from outbound_mail import placeholders, rendering
from outbound_mail.kinds import AGENT_KINDS, Channel, Kind
from outbound_mail.models import MailSettings, SmtpConnection

MAX_TEMPLATE = 20_000


class SmtpConnectionForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the saved one.",
    )

    class Meta:
        model = SmtpConnection
        fields = [
            "enabled",
            "host",
            "port",
            "security",
            "username",
            "password",
            "from_address",
            "from_name",
            "reply_to_address",
        ]
        labels = {
            "enabled": "Send through this server",
            "from_address": "From address",
            "from_name": "From name",
            "reply_to_address": "Reply-To address",
        }
        help_texts = {
            "enabled": "Off: mail goes through the platform's connection.",
            "reply_to_address": "Empty: the default inbound address.",
        }


class MailSettingsForm(forms.ModelForm):
    class Meta:
        model = MailSettings
        fields = [
            "debounce_seconds",
            "new_ticket_alert_to",
            "auto_mail_limit",
            "auto_mail_window_minutes",
        ]
        labels = {
            "debounce_seconds": "Wait before mailing customers (seconds)",
            "new_ticket_alert_to": "New ticket alerts go to",
            "auto_mail_limit": "Automatic messages allowed",
            "auto_mail_window_minutes": "… per ticket and recipient within (minutes)",
        }
        help_texts = {
            "debounce_seconds": "Changes within this time go out as one message; 0 sends each "
            "change at once.",
        }


class TestEmailForm(forms.Form):
    to = forms.EmailField(label="Send a test message to")


def channel_fields(initial: dict[str, str]) -> dict[str, forms.ChoiceField]:
    return {
        kind: forms.ChoiceField(
            label=Kind(kind).label,
            choices=Channel.choices,
            initial=initial.get(kind),
            widget=forms.RadioSelect,
        )
        for kind in AGENT_KINDS
    }


class ChannelsForm(forms.Form):
    """One channel per agent kind: an agent's preferences or the tenant's defaults."""

    def __init__(self, *args, initial_channels: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(channel_fields(initial_channels))

    def channels(self) -> dict[str, str]:
        return {kind: self.cleaned_data[kind] for kind in AGENT_KINDS}


class TemplateForm(forms.Form):
    subject = forms.CharField(max_length=500)
    body_text = forms.CharField(
        label="Plain text", widget=forms.Textarea(attrs={"rows": 12}), max_length=MAX_TEMPLATE
    )
    body_html = forms.CharField(
        label="HTML",
        widget=forms.Textarea(attrs={"rows": 12}),
        required=False,
        max_length=MAX_TEMPLATE,
        help_text="Empty: the plain text, as HTML. Branding and footer are added around it.",
    )
    enabled = forms.BooleanField(label="Send this mail", required=False)

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind

    def clean(self):
        data = super().clean() or {}
        if self.errors:
            return data
        source = rendering.Source(data["subject"], data["body_text"], data.get("body_html", ""))
        try:
            rendering.check(source, placeholders.sample_values(self.kind))
        except rendering.TemplateError as exc:
            raise forms.ValidationError(f"This template cannot be used. {exc}") from exc
        return data


class BrandingForm(forms.Form):
    accent_color = forms.CharField(
        max_length=7,
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #2563eb.")],
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    sender_name = forms.CharField(
        max_length=200, required=False, help_text="Shown as the sender; empty: the organization."
    )
    footer_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000
    )
    logo = forms.FileField(required=False, help_text="PNG or JPEG, shown at most 48 px high.")
    remove_logo = forms.BooleanField(required=False, label="Remove the logo")

    def clean_logo(self):
        logo = self.cleaned_data.get("logo")
        if not logo:
            return logo
        if logo.size > 512 * 1024:
            raise forms.ValidationError("Use a logo under 512 KB; it is fetched with every mail.")
        head = logo.read(8)
        logo.seek(0)
        # The bytes decide, not the name or the browser's content type: the logo is served
        # publicly to mail clients, so it must be an image and nothing a browser could run.
        if logo_type(head) is None:
            raise forms.ValidationError("Use a PNG or JPEG image.")
        return logo


def logo_type(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None
