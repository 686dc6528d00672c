"""The headers every page carries: a Content-Security-Policy without inline scripts, no remote
mail images on a page (tests/test_remote_images.py: only in a message's own frame), no framing,
no caching of private pages, and the https settings."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_ticket
from tickets.services.comments import comment_create

ROOT = Path(__file__).resolve().parent.parent


def _policy(response) -> dict[str, list[str]]:
    directives = [d.strip().split() for d in response["Content-Security-Policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


def _ticket_with_remote_image(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
        comment_create(
            ticket=ticket,
            body_text="See the chart",
            body_html='<p>See the chart</p><img src="https://tracker.example/pixel.png">',
            author_contact=ticket.requester,
        )
    return ticket


@pytest.mark.parametrize("path", ["/agent/", "/settings/members/", "/login/"])
def test_every_page_has_a_policy_without_inline_script(acme, path):
    response = acme.client(acme.admin).get(path)
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_base_page_style_carries_the_nonce_of_its_policy(acme):
    response = acme.client(acme.agent).get("/agent/")
    [nonce] = re.findall(r'<style nonce="([^"]+)">', response.content.decode())
    assert _policy(response)["style-src"] == ["'self'", f"'nonce-{nonce}'"]


def test_templates_have_no_inline_scripts_or_handlers():
    offending = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in (ROOT / "templates").rglob("*.html")
        if "email" not in path.parts  # outgoing mail, never served under our policy
        for match in re.finditer(
            r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\shx-on[:-]|javascript:",
            path.read_text(),
        )
    ]
    assert offending == []


def test_ticket_page_blocks_remote_images_by_default(acme):
    ticket = _ticket_with_remote_image(acme)
    response = acme.client(acme.agent).get(f"/agent/tickets/{ticket.number}/")
    assert _policy(response)["img-src"] == ["'self'", "data:"]
    assert b"Show images" in response.content
    assert b'<img src="https://tracker.example' not in response.content
    assert b'data-blocked-src="https://tracker.example/pixel.png"' in response.content


def test_ticket_page_never_loosens_its_policy_for_remote_images(acme):
    # The old page-wide opt-in is gone: a message's images show in its own frame.
    ticket = _ticket_with_remote_image(acme)
    response = acme.client(acme.agent).get(f"/agent/tickets/{ticket.number}/?remote_images=1")
    assert _policy(response)["img-src"] == ["'self'", "data:"]
    assert b'<img src="https://tracker.example' not in response.content
    assert b'data-blocked-src="https://tracker.example/pixel.png"' in response.content


@pytest.mark.parametrize("path", ["/agent/", "/settings/members/"])
def test_private_pages_are_not_cached(acme, path):
    response = acme.client(acme.admin).get(path)
    assert response["Cache-Control"] == "private, no-store"


def test_public_responses_are_not_marked_private(acme):
    assert acme.client().get("/healthz").has_header("Cache-Control") is False


_PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "v9!Qx2#Lm7$Rt4&Zp8*Wc3^Hn6@Jb1%Kd5(Fg0)Ys-Ua_Ie+Ob=To~Nl",
    "PUBLIC_SCHEME": "https",
    "ALLOWED_HOSTS": ".helpdesk.example",
    "BASE_DOMAIN": "helpdesk.example",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "SECURE_SSL_REDIRECT": "true",
}


def _settings_of(env: dict[str, str], *names: str) -> list[str]:
    code = "from django.conf import settings; " + "; ".join(
        f"print(repr(settings.{name}))" for name in names
    )
    result = subprocess.run(  # our own interpreter and settings
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.splitlines()


def _base_env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "VAR_DIR", "PYTHONPATH")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
    }


def test_https_settings_follow_public_scheme():
    names = (
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_SSL_REDIRECT",
    )
    assert _settings_of(_PRODUCTION_ENV, *names) == [
        "31536000",
        "True",
        "True",
        "True",
        "('HTTP_X_FORWARDED_PROTO', 'https')",
        "True",
    ]
    plain = {**_PRODUCTION_ENV, "PUBLIC_SCHEME": "http"}
    del plain["SECURE_PROXY_SSL_HEADER"], plain["SECURE_SSL_REDIRECT"]
    assert _settings_of(plain, *names) == ["0", "False", "False", "False", "None", "False"]


def test_check_deploy_with_production_settings_prints_no_warnings(tmp_path):
    result = subprocess.run(  # our own interpreter and manage.py
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**_base_env(), **_PRODUCTION_ENV, "VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stderr, result.stdout) == (
        0,
        "",
        "System check identified no issues (0 silenced).\n",
    )
