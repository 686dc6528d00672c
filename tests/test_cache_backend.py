"""The shared cache's backend (config.cache): one redis-py client per server and role, kept,
over Django's own pools; the cache behaves as Django's RedisCache does."""

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from config.cache import KeptClientRedisCache

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the backend is Redis's")


def _backend(location: str) -> KeptClientRedisCache:
    return KeptClientRedisCache(location, {"KEY_PREFIX": "cache-backend-test"})


def test_the_configured_cache_is_the_kept_client_backend():
    if settings.REDIS_URL:
        assert isinstance(caches["default"], KeptClientRedisCache)
        assert isinstance(caches["default"], RedisCache)  # what inbound_mail.shared_cache asks


@needs_redis
def test_one_client_is_made_and_kept(monkeypatch):
    backend = _backend(settings.REDIS_URL)
    made = []
    real = redis.Redis.__init__

    def counting(self, *args, **kwargs):
        made.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)
    for n in range(20):
        backend.set(f"k{n}", n)
        assert backend.get(f"k{n}") == n
    assert backend.get_many([f"k{n}" for n in range(3)]) == {"k0": 0, "k1": 1, "k2": 2}
    assert backend.incr("k5") == 6
    backend.delete_many([f"k{n}" for n in range(20)])
    assert backend.get("k1") is None
    assert len(made) == 1  # Django's own client class makes one per call: 60 here
    client = backend._cache.get_client(write=True)
    assert backend._cache.get_client(write=False) is client  # one server: one pool, one client
    assert client.connection_pool is backend._cache._get_connection_pool(True)


@needs_redis
def test_the_replica_role_gets_its_own_client():
    # Two servers: writes go to the first, reads to the others (Django's own choice of pool).
    backend = _backend(f"{settings.REDIS_URL},{settings.REDIS_URL}")
    writer = backend._cache.get_client(write=True)
    reader = backend._cache.get_client(write=False)
    assert writer is not reader
    assert backend._cache.get_client(write=True) is writer
    assert backend._cache.get_client(write=False) is reader
    backend.set("shared", "yes")
    assert backend.get("shared") == "yes"  # the same Redis behind both
    backend.delete("shared")


def test_an_unreachable_server_raises_as_before():
    backend = _backend("redis://127.0.0.1:1/0")  # nothing listens there
    with pytest.raises(redis.ConnectionError):
        backend.get("anything")
    with pytest.raises(redis.ConnectionError):
        backend.get("anything")  # the kept client tries again, it is not broken
