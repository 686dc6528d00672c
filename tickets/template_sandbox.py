"""The sandbox every tenant-written template renders in: mail templates (outbound_mail.rendering),
canned responses (tickets.placeholders) and, later, macros. A separate Django template Engine
with only the tags and filters allowed here, no loaders (nothing to include or extend), no
libraries to load, invalid lookups rendering as ""; and the limits every render runs within.

An allow-list, not a deny-list: `load`, `include`, `extends`, `debug`, `url`, `csrf_token`,
`autoescape`, `for`, `safe` and everything else Django ships are simply not registered, so
templates using them fail to compile and are refused when saved. Filters that pad to a width
the template names (center, ljust, rjust) are left out too: `ljust:"999999999"` would make a
worker allocate a gigabyte. Without `for` and with only
plain strings in the context a template cannot loop (no runaway rendering); without `safe`
and `autoescape` it cannot unescape what customers wrote.

Without loops a template can still grow text: nested `{% with %}` and `|add` double a value at
each level (25 levels of a 983-character template took 1.1 GB). So, while it renders, not
after: tags nest at most MAX_NESTING deep (refused when compiled); every filter's result and
every piece of output counts against a budget of MAX_ADDED_CHARS plus a few times what the
placeholders hold, checked before `add` builds its string; and a deadline is checked at every
node and filter. The first limit hit is remembered, so a refusal that Django swallows (inside
`{% if a == b %}` an exception reads as False) still ends the render.

Values are plain strings (tickets.placeholders): a template has no object to call a method on.
"""

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.template import (
    Context,
    Engine,
    Library,
    Node,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)

register = Library()

ALLOWED_TAGS = ("comment", "firstof", "if", "now", "spaceless", "templatetag", "verbatim", "with")
ALLOWED_FILTERS = (
    "add",
    "capfirst",
    "cut",
    "default",
    "default_if_none",
    "first",
    "last",
    "length",
    "linebreaks",
    "linebreaksbr",
    "lower",
    "pluralize",
    "slice",
    "striptags",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "urlencode",
    "wordcount",
    "wordwrap",
    "yesno",
)

MAX_NESTING = 10
MAX_ADDED_CHARS = 1_000_000
# A template may show each placeholder a few times and filter it (`linebreaks`, `wordwrap`):
# each filtered copy counts once as the filter's result and once as output.
PLACEHOLDER_FACTOR = 4
MAX_RENDER_SECONDS = 2.0


class RenderLimitError(Exception):
    """A template went past a limit while it rendered; the message says which."""


@dataclass
class Budget:
    """What one render may still make, and until when; the first refusal, once there is one."""

    chars_left: int
    deadline: float
    refusal: str = ""

    def tick(self) -> None:
        if not self.refusal and time.monotonic() > self.deadline:
            self.refusal = f"Rendering took longer than {MAX_RENDER_SECONDS:g} seconds."
        if self.refusal:
            raise RenderLimitError(self.refusal)

    def spend(self, chars: int) -> None:
        self.tick()
        if chars > self.chars_left:
            self.refusal = (
                f"It makes too much text: a template may add at most {MAX_ADDED_CHARS:,} "
                "characters to what its placeholders hold."
            )
            raise RenderLimitError(self.refusal)
        self.chars_left -= chars


_budget: ContextVar[Budget | None] = ContextVar("sandbox_budget", default=None)


@contextmanager
def limits(values: dict) -> Iterator[Budget]:
    """Render sandboxed templates inside this, with the placeholder values they render."""
    held = sum(len(value) for value in values.values() if isinstance(value, str))
    budget = Budget(
        chars_left=MAX_ADDED_CHARS + PLACEHOLDER_FACTOR * held,
        deadline=time.monotonic() + MAX_RENDER_SECONDS,
    )
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def current_budget() -> Budget:
    budget = _budget.get()
    if budget is None:  # fail closed: a sandboxed template rendered outside `limits`
        raise RenderLimitError("A sandboxed template renders only within its limits.")
    return budget


# -- filters: every result counts ---------------------------------------------------------------


def _counted(func):
    @functools.wraps(func)  # keeps is_safe, needs_autoescape, ... and the signature Django checks
    def counted(*args, **kwargs):
        budget = current_budget()
        budget.tick()
        result = func(*args, **kwargs)
        if isinstance(result, str):
            budget.spend(len(result))
        return result

    return counted


@functools.wraps(defaultfilters.add)
def add(value, arg):
    """Django's `add`, refusing before it concatenates a string past the budget."""
    budget = current_budget()
    if isinstance(value, str | list | tuple) and isinstance(arg, str | list | tuple):
        budget.spend(len(value) + len(arg))
    else:
        budget.tick()
    return defaultfilters.add(value, arg)


# -- tags: nesting counted while the template compiles -------------------------------------------


def _nesting_limited(compile_function):
    """A tag's compile function that refuses to nest deeper than MAX_NESTING; the depth is
    counted on the parser, so the refusal comes before Django's parser recurses further."""

    @functools.wraps(compile_function)
    def compile_limited(parser, token):
        depth = getattr(parser, "sandbox_depth", 0)
        if depth >= MAX_NESTING:
            raise TemplateSyntaxError(
                f"Tags are nested more than {MAX_NESTING} deep (line {token.lineno})."
            )
        parser.sandbox_depth = depth + 1
        try:
            return compile_function(parser, token)
        finally:
            parser.sandbox_depth = depth

    return compile_limited


for _name in ALLOWED_TAGS:
    register.tags[_name] = _nesting_limited(defaulttags.register.tags[_name])
for _name in ALLOWED_FILTERS:
    register.filters[_name] = _counted(defaultfilters.register.filters[_name])
register.filters["add"] = add


# -- nodes: the deadline at every node, the output of every leaf counted -------------------------


def limit_nodes(nodelist) -> None:
    """Make every node of a compiled sandbox template check the budget when it renders."""
    for node in nodelist.get_nodes_by_type(Node):
        node.sandbox_leaf = not any(getattr(node, name, None) for name in node.child_nodelists)
        node.__class__ = _limited_class(type(node))


_LIMITED: dict[type[Node], type[Node]] = {}


def _limited_class(cls: type[Node]) -> type[Node]:
    """`cls` with a render that checks the budget (one subclass per node class, made once)."""
    if getattr(cls, "sandbox_limited", False):
        return cls
    if cls not in _LIMITED:

        def render_annotated(self, context):
            budget = current_budget()
            budget.tick()
            output = cls.render_annotated(self, context)
            # Containers (if, with, spaceless) return what their children made, counted there.
            if self.sandbox_leaf and isinstance(output, str):
                budget.spend(len(output))
            return output

        attrs = {"render_annotated": render_annotated, "sandbox_limited": True}
        _LIMITED[cls] = type(cls.__name__, (cls,), attrs)
    return _LIMITED[cls]


# -- the engine: these builtins only ------------------------------------------------------------


class SandboxEngine(Engine):
    # Django's own builtins (with load, include, debug, ...) are replaced, not extended.
    default_builtins = ["tickets.template_sandbox"]


@functools.cache
def _engine(autoescape: bool) -> SandboxEngine:
    return SandboxEngine(
        loaders=[], libraries={}, builtins=[], string_if_invalid="", autoescape=autoescape
    )


class TemplateError(Exception):
    """A tenant template that does not compile or render; the message says where and why."""


def compile_template(source: str, *, html: bool, part: str):
    """The compiled, limited template; a TemplateError when it does not compile."""
    try:
        return _compiled(source, html)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{part}: {exc}") from exc
    except RecursionError as exc:  # e.g. `{% if not not not ... %}`: nested past the parser
        raise TemplateError(f"{part}: It is nested too deeply.") from exc


@functools.lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    # Keyed by the text itself: a compiled template holds no tenant data, and an edited
    # template is new text. Parsing was a third of rendering's cost in bench/outbound.py.
    template = _engine(html).from_string(source)
    limit_nodes(template.nodelist)
    return template


def render_template(source: str, context: dict, *, html: bool, part: str) -> str:
    """One tenant template rendered with plain `context` values, within the limits on size and
    time (a TemplateError past them). `html` autoescapes the values; text does not."""
    template = compile_template(source, html=html, part=part)
    try:
        with limits(context) as budget:
            output = template.render(Context(context, autoescape=html))
            budget.tick()  # a limit hit where Django swallows exceptions (`{% if a == b %}`)
    except RecursionError as exc:
        raise TemplateError(f"{part}: It is nested too deeply.") from exc
    except Exception as exc:  # a limit, or a filter argument that only fails at render time
        raise TemplateError(f"{part}: {exc}") from exc
    return output
