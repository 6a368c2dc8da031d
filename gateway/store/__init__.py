"""Where the gateway keeps its state: the file store under DATA_DIR, or Redis when REDIS_URL is set."""
from __future__ import annotations

from gateway.store.base import Store, StoreUnavailable
from gateway.store.file import FileStore

__all__ = ["FileStore", "Store", "StoreUnavailable", "open_store"]


def open_store(data_dir: str, redis_url: str = "") -> Store:
    """The Redis store when a URL is given, else the file store under `data_dir`."""
    if redis_url:
        from gateway.store.redis import RedisStore  # the redis client is needed only by deployments using it
        return RedisStore(redis_url)
    return FileStore(data_dir)
