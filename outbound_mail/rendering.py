"""Tenant templates rendered in a sandbox, wrapped in the tenant's branding, inlined for mail.

The sandbox is `tickets.template_sandbox` (canned responses render in it too): a separate
Django template Engine with only its tags and filters, no loaders, no libraries to load,
invalid lookups rendering as "". The HTML part autoescapes; text and subject do not. Each part
renders within the sandbox's limits (nesting, size, time): past one, a TemplateError.
"""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import css_inline
from django.template.loader import render_to_string

from tickets import template_sandbox

DEFAULTS_DIR = Path(__file__).resolve().parent / "default_templates"
TAG_RE = re.compile(r"\[#(\d+)\]")


# The sandbox (engine, allowed tags and filters, limits) lives below, in tickets: canned
# responses render in the same one.
TemplateError = template_sandbox.TemplateError


@dataclass(frozen=True)
class Source:
    subject: str
    body_text: str
    body_html: str


@dataclass(frozen=True)
class Rendered:
    subject: str
    body_text: str
    body_html: str


@cache
def default_source(kind: str) -> Source:
    """The template shipped with the product for `kind`."""
    folder = DEFAULTS_DIR / kind
    return Source(
        subject=(folder / "subject.txt").read_text().strip(),
        body_text=(folder / "body.txt").read_text(),
        body_html=(folder / "body.html").read_text(),
    )


def _render(source: str, context: dict, *, html: bool, part: str) -> str:
    return template_sandbox.render_template(source, context, html=html, part=part)


def check(source: Source, context: dict) -> None:
    """Raise TemplateError unless all three parts compile and render with `context`."""
    render(source, context)


def clean_subject(subject: str) -> str:
    # A header must not contain CR or LF (RFC 5322 2.2); a template or a customer's subject
    # with newlines would otherwise inject headers.
    return " ".join(subject.split())[:400]


def tagged_subject(subject: str, number: int) -> str:
    """The subject with `[#number]`, which threads the customer's reply by subject."""
    if int(number) in {int(n) for n in TAG_RE.findall(subject)}:
        return subject
    return f"{subject} [#{number}]".strip()


def render(source: Source, context: dict) -> Rendered:
    return Rendered(
        subject=clean_subject(_render(source.subject, context, html=False, part="Subject")),
        body_text=_render(source.body_text, context, html=False, part="Text"),
        body_html=_render(source.body_html, context, html=True, part="HTML")
        if source.body_html.strip()
        else "",
    )


@dataclass(frozen=True)
class Branding:
    name: str
    accent_color: str
    logo_url: str
    footer_text: str


def brand(rendered: Rendered, branding: Branding) -> Rendered:
    """Wrap the body in the tenant's branding; the HTML part is inlined for mail clients."""
    text = rendered.body_text.rstrip() + "\n"
    if branding.footer_text:
        # "-- " starts a signature block (RFC 3676 4.3); clients fold it away in replies.
        text += f"\n-- \n{branding.footer_text.strip()}\n"
    html_body = rendered.body_html or _text_as_html(rendered.body_text)
    page = render_to_string(
        "outbound_mail/email/layout.html", {"body": html_body, "brand": branding}
    )
    return Rendered(subject=rendered.subject, body_text=text, body_html=inline_css(page))


def _text_as_html(text: str) -> str:
    from tickets.sanitize import text_to_html

    return text_to_html(text)


@cache
def _inliner() -> css_inline.CSSInliner:
    # Never fetch <link> stylesheets a template names: rendering must not make network calls.
    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)


def inline_css(page: str) -> str:
    return _inliner().inline(page)


COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOR = "#2563eb"


def safe_color(value: str) -> str:
    """The accent colour goes into CSS; anything but #rrggbb could break out of it."""
    return value if COLOR_RE.match(value or "") else DEFAULT_COLOR
