"""The routing cache (inbound_mail.routing_cache): a lone message is routed from what the process
already knows about its recipients, and every change of an address is seen by the next message,
whichever process made it.

These tests run outside a test transaction (transaction=True), as intake does: inside a
transaction that wrote an address the cache is deliberately not used.
"""

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django_scopes import scopes_disabled

from inbound_mail import routing, routing_cache, shared_cache
from inbound_mail.models import InboundAddress, InboundMessage, UnclaimedMessage
from inbound_mail.routing import HeaderSummary
from inbound_mail.services import addresses, intake
from tests.inbound.mails import mail
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _cache_on(settings):
    # On every cache backend: the tests are one process, so local memory shares as Redis does.
    settings.INBOUND_ROUTING_CACHE = True


def _route(*recipients: str, envelope: tuple[str, ...] = ()) -> tuple[list[str], int]:
    """(the slugs of the tenants the recipients route to, the address queries it took)."""
    summary = HeaderSummary("", "carol@customer.test", "Hello", list(recipients))
    with CaptureQueriesContext(connection) as queries:
        [owners] = routing.route_many(summaries=[summary], envelope_recipients=envelope)
        slugs = [o.slug for o in owners]  # a tenant's fields are read, never a kept copy
    reads = [q for q in queries.captured_queries if "inbound_mail_inboundaddress" in q["sql"]]
    return slugs, len(reads)


def _add(tenant, address: str, **fields) -> InboundAddress:
    with tenant.scope():
        return InboundAddress.objects.create(organization=tenant.org, address=address, **fields)


def test_a_known_recipient_is_routed_without_a_query(support):
    assert _route("support@acme.test", "someone@else.test") == (["acme"], 1)
    assert _route("support@acme.test", "someone@else.test") == (["acme"], 0)
    assert _route("someone@else.test", "help@globex.test") == (["globex"], 1)  # only new ones
    assert _route("help@globex.test") == (["globex"], 0)


def test_a_recipient_that_is_no_address_is_remembered_too(support):
    assert _route("nobody@unknown.test") == ([], 1)
    assert _route("nobody@unknown.test") == ([], 0)


def test_an_address_added_routes_the_next_message(support):
    acme, _ = support
    assert _route("sales@acme.test") == ([], 1)
    _add(acme, "sales@acme.test")
    assert _route("sales@acme.test") == (["acme"], 1)


def test_an_address_added_through_the_settings_service_routes_the_next_message(support, settings):
    acme, _ = support
    settings.MAIL_DOMAIN = "mail.helpdesk.test"
    address = "billing@acme.mail.helpdesk.test"
    assert _route(address) == ([], 1)
    with acme.scope():
        addresses.inbound_address_add(organization=acme.org, address=address)
    assert _route(address) == (["acme"], 1)


def test_an_address_removed_stops_routing_at_once(support):
    _, globex = support
    assert _route("help@globex.test") == (["globex"], 1)
    with globex.scope():
        addresses.inbound_address_remove(address=InboundAddress.objects.get())
    assert _route("help@globex.test") == ([], 1)


def test_an_address_moved_to_another_tenant_routes_there(support):
    acme, globex = support
    assert _route("support@acme.test") == (["acme"], 1)
    with acme.scope():
        InboundAddress.objects.get().delete()
    _add(globex, "support@acme.test")
    assert _route("support@acme.test") == (["globex"], 1)


def test_plus_addressing_turned_off_is_seen_by_the_next_message(support):
    acme, _ = support
    assert _route("support+tag@acme.test") == (["acme"], 1)
    with acme.scope():
        row = InboundAddress.objects.get()
        row.plus_addressing = False
        row.save(update_fields=["plus_addressing"])
    assert _route("support+tag@acme.test") == ([], 1)
    assert _route("support@acme.test") == (["acme"], 0)


def test_a_deleted_tenant_is_routed_to_no_more(support):
    acme, _ = support
    assert _route("support@acme.test") == (["acme"], 1)
    with scopes_disabled():  # the tenant goes with everything it owns
        Ticket.objects.filter(organization=acme.org).delete()
        acme.org.delete()
    assert _route("support@acme.test") == ([], 1)


def test_a_change_made_by_another_process_is_seen_through_the_shared_version(support):
    assert _route("support@acme.test") == (["acme"], 1)
    # Another process's write: this process's signals do not see it, its version change does.
    with scopes_disabled():  # an UPDATE sends no signal here
        InboundAddress.objects.filter(address="support@acme.test").update(address="x@acme.test")
    assert _route("support@acme.test") == (["acme"], 0)  # until the version changes
    routing_cache.bump()
    assert _route("support@acme.test") == ([], 1)


def test_a_cleared_cache_drops_what_was_known(support):
    assert _route("support@acme.test") == (["acme"], 1)
    cache.clear()  # an evicted version, a restarted Redis
    assert _route("support@acme.test") == (["acme"], 1)
    assert _route("support@acme.test") == (["acme"], 0)


def test_a_transaction_that_wrote_an_address_neither_uses_nor_fills_the_cache(support):
    acme, _ = support
    assert _route("sales@acme.test") == ([], 1)

    with transaction.atomic():
        _add(acme, "sales@acme.test")
        seen = [_route("sales@acme.test"), _route("sales@acme.test")]
        transaction.set_rollback(True)
    assert seen == [(["acme"], 1), (["acme"], 1)]  # its own uncommitted row, read again each time
    assert _route("sales@acme.test") == ([], 1)  # the rollback left nothing behind
    assert _route("sales@acme.test") == ([], 0)


def test_a_committed_transaction_that_added_an_address_is_seen(support):
    acme, _ = support
    assert _route("sales@acme.test") == ([], 1)
    with transaction.atomic():
        _add(acme, "sales@acme.test")
    assert _route("sales@acme.test") == (["acme"], 1)


def test_without_a_reachable_cache_server_routing_asks_the_database(support):
    unreachable = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
    }
    with override_settings(CACHES={"default": unreachable}):  # back before the cache is cleared
        assert _route("support@acme.test") == (["acme"], 1)
        assert _route("support@acme.test") == (["acme"], 1)


def test_on_local_memory_the_cache_is_off_unless_chosen(support, settings):
    settings.INBOUND_ROUTING_CACHE = None
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Each process would have its own memory: the LMTP server would never hear of a change.
    assert _route("support@acme.test") == (["acme"], 1)
    assert _route("support@acme.test") == (["acme"], 1)


def test_platform_addresses_follow_address_changes(support):
    acme, _ = support
    cc = {"help@globex.test", "carol@customer.test"}
    assert routing.platform_addresses(cc) == {"help@globex.test"}
    assert routing.platform_addresses({"sales+x@acme.test"}) == set()
    _add(acme, "sales@acme.test")
    assert routing.platform_addresses({"sales+x@acme.test"}) == {"sales+x@acme.test"}


def test_lone_messages_land_where_the_addresses_say_now(support):
    acme, _ = support
    first = intake.inbound_receive(raw=mail(to="sales@acme.test", subject="Before"), source="api")
    assert first.inbound_ids == []
    _add(acme, "sales@acme.test")
    second = intake.inbound_receive(raw=mail(to="sales@acme.test", subject="After"), source="api")
    with acme.scope():
        row = InboundMessage.objects.get(pk__in=second.inbound_ids)
    assert (row.organization_id, row.subject) == (acme.org.pk, "After")
    with scopes_disabled():
        assert UnclaimedMessage.objects.get().subject == "Before"


def test_a_version_asked_ahead_and_never_read_leaves_the_connection_usable(support):
    # A mailbox's mail is not routed, and mail without recipients asks nothing: an answer sent
    # ahead may go unread, and must not become the answer to the next command on its connection.
    for _ in range(3):
        with routing_cache.asked_ahead():
            pass
    assert _route("support@acme.test") == (["acme"], 1)
    assert _route("support@acme.test") == (["acme"], 0)
    backend = shared_cache.default_cache()
    client = shared_cache.redis_of(backend)
    if client is not None:
        client.set(shared_cache.key_name(backend, "probe"), "x")
        assert client.get(shared_cache.key_name(backend, "probe")) == b"x"
