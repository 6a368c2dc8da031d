"""The Redis store: the same sections as FileStore, so several machines share accounts, keys and
counters. Sections are JSON strings changed with WATCH/MULTI; counters are native INCRs; usage counts are
hashes added to with HINCRBYFLOAT, the request log a sorted set scored by time. A Redis that
is down or restarting answers StoreUnavailable within seconds, never a hang.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from gateway.store.base import Store, StoreUnavailable, window_bounds

T = TypeVar("T")

# Seconds to connect and to wait for an answer: a request waits at most about this long on a dead Redis.
CONNECT_TIMEOUT, ANSWER_TIMEOUT = 2, 5


class RedisStore(Store):
    def __init__(self, url: str, prefix: str = "kimi-gateway"):
        # Two quick retries of a refused or cut connection (a pooled one a Redis restart cut fails once, the
        # next works); none of a timeout, so a Redis that hangs costs a request ANSWER_TIMEOUT, not three.
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2, supported_errors=(redis.ConnectionError,))
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=ANSWER_TIMEOUT,
                                          retry=retry)
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def read(self, section: str) -> dict[str, Any]:
        with _reachable():
            return _decode(self.redis.get(self._key("section", section)))

    def modify(self, section: str, change: Callable[[dict[str, Any]], T]) -> T:
        key = self._key("section", section)
        with _reachable(), self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    data = _decode(raw)
                    result = change(data)
                    encoded = json.dumps(data, separators=(",", ":")).encode()
                    if encoded != (raw or b"{}"):
                        pipe.multi()
                        pipe.set(key, encoded)
                        pipe.execute()
                    else:
                        pipe.unwatch()
                    return result
                except redis.WatchError:
                    continue  # another writer changed the section first: run the change again

    def hit(self, name: str, window: int) -> tuple[int, float]:
        start, left = window_bounds(window)
        key = self._key("count", name, str(start))
        with _reachable(), self.redis.pipeline() as pipe:
            pipe.set(key, 0, ex=window + 1, nx=True)
            pipe.incr(key)
            _, count = pipe.execute()
        return int(count), left

    def peek(self, name: str, window: int) -> tuple[int, float]:
        start, left = window_bounds(window)
        with _reachable():
            return int(self.redis.get(self._key("count", name, str(start))) or 0), left

    def remember(self, name: str, value: str, ttl: int) -> None:
        with _reachable():
            self._put_value(self.redis, name, value, ttl)

    def remember_many(self, items: Iterable[tuple[str, str, int]]) -> None:
        with _reachable(), self.redis.pipeline(transaction=False) as pipe:
            for name, value, ttl in items:
                self._put_value(pipe, name, value, ttl)
            pipe.execute()

    def _put_value(self, target: Any, name: str, value: str, ttl: int) -> None:
        """SET with an expiry on the client or a pipeline; a ttl that is over already deletes."""
        if ttl > 0:
            target.set(self._key("value", name), value, ex=ttl)
        else:
            target.delete(self._key("value", name))

    def recall(self, name: str) -> Optional[str]:
        with _reachable():
            raw = self.redis.get(self._key("value", name))
        return raw.decode() if raw is not None else None

    def add_counts(self, counts: Mapping[str, Mapping[str, float]], ttl: int) -> None:
        with _reachable(), self.redis.pipeline() as pipe:
            for name, fields in counts.items():
                key = self._key("counts", name)
                for field, amount in fields.items():
                    if amount == int(amount):
                        pipe.hincrby(key, field, int(amount))
                    else:
                        pipe.hincrbyfloat(key, field, amount)
                pipe.expire(key, ttl)
            pipe.execute()

    def read_counts(self, names: Iterable[str]) -> list[dict[str, float]]:
        with _reachable(), self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self._key("counts", name))
            found = pipe.execute()
        return [{field.decode(): float(value) for field, value in fields.items()} for fields in found]

    def append_rows(self, name: str, rows: list[tuple[float, str]], keep_seconds: float, keep_rows: int = 0) -> None:
        if not rows:
            return
        key = self._key("rows", name)
        with _reachable(), self.redis.pipeline() as pipe:
            pipe.zadd(key, {value: at for at, value in rows})
            pipe.zremrangebyscore(key, "-inf", f"({max(at for at, _ in rows) - keep_seconds}")
            if keep_rows:
                pipe.zremrangebyrank(key, 0, -keep_rows - 1)
            pipe.expire(key, max(1, int(keep_seconds)))
            pipe.execute()

    def read_rows(self, name: str, since: float, limit: int) -> list[tuple[float, str]]:
        with _reachable():
            found = self.redis.zrevrangebyscore(self._key("rows", name), "+inf", since, start=0, num=limit,
                                                withscores=True)
        return [(at, value.decode()) for value, at in found]

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 30, expires: float = 60) -> Iterator[None]:
        # The lock expires by itself if its holder dies (another machine cannot tell otherwise).
        lock = self.redis.lock(self._key("lock", name), timeout=expires, sleep=0.02, blocking_timeout=timeout)
        with _reachable():
            if not lock.acquire():
                raise TimeoutError("another worker holds the lock")
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError, redis.ConnectionError, redis.TimeoutError):
                lock.release()  # a lock Redis lost with a restart is free already

    def close(self) -> None:
        self.redis.close()


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError):  # BusyLoadingError too: a restart reading its file
        raise StoreUnavailable(code="store_unavailable", retry_after=5) from None


def _decode(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if raw else {}
