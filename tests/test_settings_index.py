"""The settings index at /settings/ and the favicon (issue 10, broken item 9)."""

import re

from tenants import settings_nav


def test_settings_index_lists_every_page_grouped_with_its_sentence(acme):
    response = acme.client(acme.admin).get("/settings/")
    assert response.status_code == 200
    html = response.content.decode()
    groups = re.findall(r'<h2 id="settings-group-\d+">([^<]+)</h2>', html)
    assert groups[:3] == ["People", "Tickets", "Email"]
    assert groups[-1] == "Security"
    for section in settings_nav.sections():
        assert section.description, section.label
        assert f'{section.label}</a> <span class="muted">{section.description}</span>' in html
    people = html.split('id="settings-group-1"')[1].split("</section>")[0]
    assert re.findall(r">([^<]+)</a>", people) == ["Members", "Teams"]


def test_settings_index_is_for_admins_of_this_tenant_only(acme, globex):
    assert acme.client(acme.agent).get("/settings/").status_code == 404
    assert acme.client(globex.admin).get("/settings/").status_code == 404
    anonymous = acme.client().get("/settings/")
    assert (anonymous.status_code, anonymous["Location"]) == (302, "/login/?next=/settings/")


def test_settings_link_in_the_frame_opens_the_index(acme):
    html = acme.client(acme.admin).get("/agent/").content.decode()
    assert '<a href="/settings/">Settings</a>' in html


def test_settings_nav_groups_by_band_unless_named():
    assert [settings_nav._band(order) for order in (10, 30, 59, 60, 899, 900)] == [
        "People",
        "Tickets",
        "Tickets",
        "Email",
        "Email",
        "Security",
    ]


def test_every_page_links_a_favicon_that_is_served(acme, client):
    html = acme.client(acme.admin).get("/agent/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    login = acme.client().get("/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in login


def test_favicon_ico_redirects_to_the_icon(acme):
    response = acme.client().get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/favicon.svg")
