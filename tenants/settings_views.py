"""Settings pages for members and teams (tenant admins only)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants import services
from tenants.access import admin_required
from tenants.forms import TenantPasswordResetForm
from tenants.models import Membership, Team
from tenants.settings_forms import InviteForm, RoleForm, TeamForm


def _membership(pk) -> Membership:
    membership = Membership.objects.select_related("user").filter(pk=pk).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


@admin_required
def members(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        membership = services.member_invite(organization=request.organization, **form.cleaned_data)
        _send_set_password_mail(request, membership.user.email)
        messages.success(
            request, f"Invited {membership.user.email}; they got a link to set a password."
        )
        return redirect("settings_members")
    rows = list(Membership.objects.select_related("user").order_by("user__name", "user__email"))
    return render(
        request,
        "settings/members.html",
        {"rows": rows, "form": form, "roles": Membership.ROLES},
        status=400 if request.method == "POST" else 200,
    )


def _send_set_password_mail(request, email: str) -> None:
    # The tenant's reset form mails members whether or not they have a password yet, so the
    # invitation is a set-password link through the same token machinery.
    form = TenantPasswordResetForm({"email": email})
    form.is_valid()
    form.save(
        request=request,
        use_https=request.is_secure(),
        subject_template_name="registration/invite_subject.txt",
        email_template_name="registration/invite_email.html",
    )


@require_POST
@admin_required
def member_role(request, pk: int):
    form = RoleForm(request.POST)
    membership = _membership(pk)
    if form.is_valid():
        try:
            services.member_change_role(membership=membership, role=form.cleaned_data["role"])
            messages.success(request, "Role changed.")
        except services.LastAdmin as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Pick admin or agent.")
    return redirect("settings_members")


@require_POST
@admin_required
def member_remove(request, pk: int):
    try:
        services.member_remove(membership=_membership(pk))
        messages.success(request, "Member removed.")
    except services.LastAdmin as exc:
        messages.error(request, str(exc))
    return redirect("settings_members")


@admin_required
def teams(request):
    pk = request.GET.get("edit") or request.POST.get("id")
    team = Team.objects.filter(pk=pk).first() if pk and str(pk).isdigit() else None
    if pk and team is None:
        raise Http404("No such team.")
    form = TeamForm(request.POST or None, instance=team)
    if request.method == "POST" and form.is_valid():
        services.team_save(organization=request.organization, team=team, **form.cleaned_data)
        messages.success(request, "Team saved.")
        return redirect("settings_teams")
    rows = list(Team.objects.prefetch_related("teammember_set__user"))
    return render(
        request,
        "settings/teams.html",
        {"rows": rows, "form": form, "editing": team},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@admin_required
def team_delete(request, pk: int):
    team = Team.objects.filter(pk=pk).first()
    if team is None:
        raise Http404("No such team.")
    team.delete()
    messages.success(request, f"Team {team.name} deleted; its tickets keep no team.")
    return redirect("settings_teams")
