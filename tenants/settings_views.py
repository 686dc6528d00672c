"""Settings pages for members and teams (tenant admins only)."""

from django.conf import settings
from django.contrib import messages
from django.core.mail import send_mail
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from tenants import confirm, deletion_guards, services, settings_nav
from tenants.access import admin_required
from tenants.forms import TenantPasswordResetForm
from tenants.hosts import organization_url
from tenants.models import Invitation, Membership, Team
from tenants.settings_forms import InviteForm, RoleForm, TeamForm
from tenants.tokens import invitation_token


@admin_required
def index(request):
    """/settings/: every settings page, grouped, each with what it changes."""
    return render(request, "settings/index.html", {"groups": settings_nav.grouped()})


def _membership(pk) -> Membership:
    membership = Membership.objects.select_related("user").filter(pk=pk).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


@admin_required
def members(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        invited = services.member_invite(
            organization=request.organization, invited_by=request.user, **form.cleaned_data
        )
        if isinstance(invited, Invitation):
            _send_invitation_mail(invited)
            text = f"Invited {invited.user.email}; they join once they accept from the mail."
        else:
            _send_set_password_mail(request, invited.user.email)
            text = f"Invited {invited.user.email}; they got a link to set a password."
        messages.success(request, text)
        return redirect("settings_members")
    rows = list(Membership.objects.select_related("user").order_by("user__name", "user__email"))
    invitations = list(Invitation.objects.select_related("user").order_by("user__email"))
    return render(
        request,
        "settings/members.html",
        {"rows": rows, "invitations": invitations, "form": form, "roles": Membership.ROLES},
        status=400 if request.method == "POST" else 200,
    )


def _send_invitation_mail(invitation: Invitation) -> None:
    # An existing account joins only by accepting, signed in as itself, on this tenant's host.
    path = reverse("invitation_accept", kwargs={"token": invitation_token(invitation)})
    context = {
        "organization": invitation.organization,
        "email": invitation.user.email,
        "role": invitation.get_role_display(),
        "url": organization_url(invitation.organization, path),
    }
    send_mail(
        render_to_string("registration/invitation_subject.txt", context).strip(),
        render_to_string("registration/invitation_email.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [invitation.user.email],
    )


def _send_set_password_mail(request, email: str) -> None:
    # The tenant's reset form mails members whether or not they have a password yet, so the
    # invitation is a set-password link through the same token machinery.
    form = TenantPasswordResetForm({"email": email})
    form.is_valid()
    form.save(
        request=request,
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
    membership = _membership(pk)
    what = f"{membership.user.display_name} ({membership.user.email})"
    cancel_url = reverse("settings_members")
    if refused := deletion_guards.refusal(
        request, membership, what=what, cancel_url=cancel_url, verb="remove"
    ):
        return refused
    question = f"Remove {membership.user.display_name} ({membership.user.email})?"
    asking = confirm.unconfirmed(
        request,
        confirm.Confirmation(
            question,
            reverse("settings_members"),
            detail="They leave their teams and are signed out here at once.",
            action="Remove",
        ),
    )
    if asking:
        return asking
    try:
        services.member_remove(membership=membership)
        messages.success(request, "Member removed.")
    except services.LastAdmin as exc:
        messages.error(request, str(exc))
    return redirect("settings_members")


@require_POST
@admin_required
def invitation_revoke(request, pk: int):
    invitation = Invitation.objects.select_related("user").filter(pk=pk).first()
    if invitation is None:
        raise Http404("No such invitation.")
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"Invitation of {invitation.user.email} revoked.")
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
    away_ids = set(Membership.objects.filter(is_away=True).values_list("user_id", flat=True))
    return render(
        request,
        "settings/teams.html",
        {"rows": rows, "form": form, "editing": team, "away_ids": away_ids},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@admin_required
def team_delete(request, pk: int):
    team = Team.objects.filter(pk=pk).first()
    if team is None:
        raise Http404("No such team.")
    question = f"Delete the team “{team.name}”?"
    detail = "Its tickets keep no team."
    cancel_url = reverse("settings_teams")
    what = f"the team “{team.name}”"
    if refused := deletion_guards.refusal(request, team, what=what, cancel_url=cancel_url):
        return refused
    if asking := confirm.unconfirmed(request, confirm.Confirmation(question, cancel_url, detail)):
        return asking
    team.delete()
    messages.success(request, f"Team {team.name} deleted; its tickets keep no team.")
    return redirect("settings_teams")
