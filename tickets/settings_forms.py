"""Forms of the statuses, priorities and canned responses settings pages."""

from django import forms

from tickets import placeholders, template_sandbox
from tickets.models import CannedResponse, Priority, Status, StatusCategory


class StatusForm(forms.Form):
    name = forms.CharField(max_length=60)
    category = forms.ChoiceField(choices=StatusCategory.choices)
    pauses_sla = forms.BooleanField(required=False, label="Pauses SLA timers")
    is_default = forms.BooleanField(required=False, label="Default for its category")

    def __init__(self, *args, instance: Status | None = None, **kwargs):
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name,
                "category": instance.category,
                "pauses_sla": instance.pauses_sla,
                "is_default": instance.is_default,
            }
        super().__init__(*args, **kwargs)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Status.objects.filter(name__iexact=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("A status with this name exists already.")
        return name


class PriorityForm(forms.Form):
    name = forms.CharField(max_length=60)
    rank = forms.IntegerField(min_value=0, max_value=1000, help_text="Higher is more urgent.")
    color = forms.RegexField(
        regex=r"^#[0-9a-fA-F]{6}$",
        max_length=7,
        initial="#6b7280",
        error_messages={"invalid": "Use a colour like #2563eb."},
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    is_default = forms.BooleanField(required=False, label="Default for new tickets")

    def __init__(self, *args, instance: Priority | None = None, **kwargs):
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name,
                "rank": instance.rank,
                "color": instance.color,
                "is_default": instance.is_default,
            }
        super().__init__(*args, **kwargs)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Priority.objects.filter(name__iexact=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("A priority with this name exists already.")
        return name


class CannedForm(forms.ModelForm):
    class Meta:
        model = CannedResponse
        fields = ["name", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 6})}

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = CannedResponse.objects.filter(name__iexact=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("A canned response with this name exists already.")
        return name

    def clean_body(self):
        # The sandbox mail templates render in (tickets.template_sandbox): refused on save.
        body = self.cleaned_data["body"]
        try:
            placeholders.check_canned(body)
        except template_sandbox.TemplateError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return body
