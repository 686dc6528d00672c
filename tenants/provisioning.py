"""What a new tenant is set up with, contributed by the apps built on tenants.

Tenants knows none of them: an app above (tickets' default statuses and priorities today) registers
a step in its AppConfig.ready(), and `organization_create` runs every step inside its transaction
with the new tenant active.
"""

from collections.abc import Callable

from tenants.models import Organization

Step = Callable[..., object]  # called as step(organization=...)

_steps: dict[str, Step] = {}


def register(name: str, step: Step) -> None:
    """Add or replace (by name) one step run for every new tenant."""
    _steps[name] = step


def provision(organization: Organization) -> None:
    for step in _steps.values():
        step(organization=organization)
