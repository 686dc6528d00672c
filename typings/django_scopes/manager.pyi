from typing import Any

from django.db import models

class DisabledQuerySet(models.QuerySet[Any]): ...

def ScopedManager(
    _manager_class: type[models.Manager[Any]] = ..., **scopes: str
) -> models.Manager[Any]: ...
