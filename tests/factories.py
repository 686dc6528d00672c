"""factory_boy factories; every tenant-owned factory takes `organization` explicitly."""

import factory

from tenants.models import Organization, User
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import ticket_create


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "pw")


def make_ticket(
    org, *, subject="Printer on fire", email="carol@customer.test", body="Help!", **kwargs
):
    requester = contact_get_or_create(organization=org, email=email, name="Carol")
    return ticket_create(
        organization=org, subject=subject, requester=requester, body_text=body, **kwargs
    )
