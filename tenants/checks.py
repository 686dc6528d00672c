"""System checks that keep tenancy fail-closed as the code grows, and the deploy check that
refuses a public or weak SECRET_KEY."""

from django.apps import apps
from django.conf import settings
from django.core import checks
from django_scopes.manager import DisabledQuerySet

from tenants.models import Domain
from tenants.secret_key import secret_key_problem

# Rows that carry an organization but are looked up before a tenant is known (host resolution).
UNSCOPED_ALLOWED = {Domain}


def _is_scoped(model) -> bool:
    qs_factory = model._default_manager.get_queryset
    # Outside any scope a ScopedManager hands out a DisabledQuerySet that refuses to run.
    return isinstance(qs_factory(), DisabledQuerySet)


@checks.register(checks.Tags.models)
def tenant_models_are_scoped(app_configs=None, **kwargs):
    return unscoped_tenant_models(apps.get_models())


def unscoped_tenant_models(models) -> list[checks.Error]:
    errors = []
    for model in models:
        if model in UNSCOPED_ALLOWED or model._meta.app_label in ("auth", "contenttypes"):
            continue
        field_names = {f.name for f in model._meta.get_fields()}
        if "organization" in field_names and not _is_scoped(model):
            errors.append(
                checks.Error(
                    f"{model._meta.label} has an organization column but no scoped default manager",
                    hint="Inherit tenants.models.TenantModel (or use a ScopedManager).",
                    obj=model,
                    id="tenants.E001",
                )
            )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def secret_key_is_production_grade(app_configs=None, **kwargs):
    # The settings already refuse to load on such a key with DEBUG off; this tells
    # `check --deploy` run with DEBUG on (or with settings built another way) too.
    problem = secret_key_problem(settings.SECRET_KEY)
    if problem is None:
        return []
    return [checks.Critical(problem, id="helpdesk.E001")]
