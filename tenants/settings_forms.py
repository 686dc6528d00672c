"""Forms of the members and teams settings pages."""

from django import forms

from tenants.models import Invitation, Membership, Team, User


def members_queryset():
    return User.objects.filter(pk__in=Membership.objects.values("user_id")).order_by(
        "name", "email"
    )


class InviteForm(forms.Form):
    email = forms.EmailField()
    name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=Membership.ROLES, initial=Membership.AGENT)

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        if Membership.objects.filter(user__email=email).exists():
            raise forms.ValidationError("This person is already a member.")
        if Invitation.objects.filter(user__email=email).exists():
            raise forms.ValidationError(
                "This person is already invited; revoke the invitation to send a new one."
            )
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.ROLES)


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    managers = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Managers hear about SLA breaches.",
    )

    def __init__(self, *args, instance: Team | None = None, **kwargs):
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            links = list(instance.teammember_set.all())
            kwargs["initial"] = {
                "name": instance.name,
                "members": [link.user_id for link in links],
                "managers": [link.user_id for link in links if link.is_manager],
            }
        super().__init__(*args, **kwargs)
        for name in ("members", "managers"):
            field = self.fields[name]
            assert isinstance(field, forms.ModelMultipleChoiceField)  # declared so above
            field.queryset = members_queryset()

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Team.objects.filter(name__iexact=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("A team with this name exists already.")
        return name

    def clean(self):
        data = super().clean() or {}
        if set(data.get("managers") or []) - set(data.get("members") or []):
            raise forms.ValidationError("Managers must also be members of the team.")
        return data
