"""The default cache's Redis server, spoken to through one client kept per process, for the
small keys intake sets or reads on every message (the gather window, the routing version).

Django's Redis cache builds a new client object for each call (some 0.1 to 0.2 ms of CPU, more
than the round trip itself), and offers no public way to reach a kept one. This module keeps a
redis-py client (its public `Redis.from_url`, on the server Django's cache writes to: the first
of LOCATION) and names keys as the cache does (`make_and_validate_key`), so `cache.get(name)`
sees what is set here. Values are plain integers or strings: Django's serializer stores an
integer as itself, so `cache.get` reads those back as they were set.

Other cache backends (local memory, no Redis configured) are used through Django's own API.
"""

import re

import redis
from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache

_clients: dict[str, redis.Redis] = {}  # server URL -> its kept client (thread-safe, own pool)


def default_cache() -> BaseCache:
    return caches["default"]


def redis_of(backend: BaseCache) -> redis.Redis | None:
    """The kept client of the default cache's Redis server, or None when it is not Redis."""
    if not isinstance(backend, RedisCache):
        return None
    config = settings.CACHES["default"]
    location = config["LOCATION"]
    servers = re.split("[;,]", location) if isinstance(location, str) else list(location)
    client = _clients.get(servers[0])
    if client is None:
        # The connection options the cache passes to its pools (timeouts, TLS), not its own.
        options = config.get("OPTIONS", {})
        pool_options = {k: v for k, v in options.items() if k not in _CACHE_ONLY_OPTIONS}
        # redis-py's pool reconnects after a fork (it checks the process id), as Django's does.
        pool = redis.ConnectionPool.from_url(servers[0], **pool_options)
        client = _clients[servers[0]] = redis.Redis(connection_pool=pool)
    return client


# Options of Django's Redis cache that configure the cache itself, not its connections.
_CACHE_ONLY_OPTIONS = {"serializer", "pool_class", "parser_class"}


def key_name(backend: BaseCache, key: str) -> str:
    """The name the cache stores `key` under (its KEY_PREFIX and VERSION applied)."""
    return backend.make_and_validate_key(key)
