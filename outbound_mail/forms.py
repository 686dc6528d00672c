"""Forms of the outbound mail settings pages: SMTP connection, mail settings, test mail,
notification channels, templates, branding (with the logo's type sniffed from its bytes) and
DKIM keys."""

from django import forms
from django.core.validators import RegexValidator

from outbound_mail import dkim_keys, placeholders, rendering
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


class DkimKeyForm(forms.Form):
    """A new DKIM key: for the From address's domain (or one above it), under a new selector."""

    domain = forms.CharField(
        max_length=253, help_text="The domain of your From address, or a domain above it."
    )
    selector = forms.CharField(
        max_length=63,
        help_text="The key's name in DNS: letters, digits and hyphens. A new one for each key.",
    )

    def __init__(self, *args, from_domain: str, taken: set[str], **kwargs):
        super().__init__(*args, **kwargs)
        # taken: the record names (<selector>._domainkey.<domain>) of earlier and active keys
        self.from_domain, self.taken = from_domain, taken

    def clean_domain(self) -> str:
        domain = dkim_keys.ascii_domain(self.cleaned_data["domain"])
        if not domain:
            raise forms.ValidationError("Enter a domain name such as example.com.")
        if not dkim_keys.aligned(domain, self.from_domain):
            raise forms.ValidationError(
                f"Mail goes out from {self.from_domain or 'an address without a domain'}: "
                "receivers only count a signature of that domain or one above it (DMARC)."
            )
        return domain

    def clean_selector(self) -> str:
        selector = self.cleaned_data["selector"].strip().lower()
        if not dkim_keys.SELECTOR_RE.match(selector):
            raise forms.ValidationError(
                "Use letters, digits and hyphens (a dot between parts), such as hd203001."
            )
        return selector

    def clean(self):
        data = super().clean() or self.cleaned_data
        domain, selector = data.get("domain"), data.get("selector")
        if not (domain and selector):
            return data
        name = f"{selector}._domainkey.{domain}"
        if name in self.taken:
            self.add_error(
                "selector",
                "An earlier key of this domain has this selector: choose a new one, so that "
                "both records can be published while mail signed with the old key arrives.",
            )
        elif len(name) > 253:
            self.add_error("selector", "Too long for a DNS name with this domain.")
        return data
