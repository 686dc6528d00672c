# Types for django-scopes 2.1, which ships none. ScopedManager builds its manager class at run
# time; typed as a plain Manager, the django-stubs plugin can resolve related managers through it.
from contextlib import AbstractContextManager
from typing import Any

from django.db import models

version: str

class ScopeError(Exception): ...

def ScopedManager(
    _manager_class: type[models.Manager[Any]] = ..., **scopes: str
) -> models.Manager[Any]: ...
def scopes_disabled() -> AbstractContextManager[None]: ...
def scope(**scope_kwargs: Any) -> AbstractContextManager[None]: ...
def get_scope() -> dict[str, Any]: ...
