"""The portal's pages on the tenant's host, at the root (`portal:` names): signing in and the
profile (auth_urls), the contact's tickets (ticket_urls), a new ticket through an intake form
(intake_urls), the public contact form (contact_urls). Agents keep /agent/, admins /settings/
(the portal's settings pages are portal.settings_urls and portal.form_settings_urls)."""

from portal import auth_urls, contact_urls, intake_urls, ticket_urls

app_name = "portal"
urlpatterns = [
    *auth_urls.urlpatterns,
    *ticket_urls.urlpatterns,
    *intake_urls.urlpatterns,
    *contact_urls.urlpatterns,
]
