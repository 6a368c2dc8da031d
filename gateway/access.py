"""Who may spend which Kimi token: the caller's own, or the server's accounts behind a proxy API key.

A caller's own kimi-auth token (a JWT) is always used as given. The server's accounts are lent only
to callers presenting a proxy key (created on /auth, stored hashed, or listed in API_KEYS), or, while
no key exists at all, to callers on this machine that did not come through a proxy (LEND_WITHOUT_KEY
turns even that off): a deployment must never become an open relay. Behind nginx, Caddy, ngrok or
cloudflared on the same host every Internet caller's socket is loopback, so a forwarding header
(what every such proxy adds) is enough to need a key.
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from gateway import policies
from gateway.accounts import short_prefix
from gateway.store import Store
from kimi import tokens
from kimi.errors import AuthRejected, BadRequest, NotFound, PermissionDenied, RateLimited

KEY_REQUIRED_MESSAGE = ("This server lends its Kimi accounts only to callers with a valid proxy API key. "
                        "Ask its owner for one (keys are created on the /auth page) and send it as the API "
                        "key, or send your own Kimi access token (`access_token` from www.kimi.com's Local "
                        "Storage).")
KEY_ALPHABET_PREFIX = "sk-"
RATE_WINDOW = 60
# A key's daily cap counts in a window of one day: windows start at multiples of it since the epoch,
# which are UTC midnights.
DAY_WINDOW = 24 * 3600
# How long Kimi's acceptance of a caller's own token is believed without asking again.
ACCEPTED_TOKEN_SECONDS = 600
# A held stream frees itself this long after its holder died without giving it back (a worker killed
# mid-stream); like the pool's lease, it outlives any stream.
STREAM_HOLD_SECONDS = 900


@dataclass(frozen=True)
class Access:
    """What a request may use, read once at the access check: its own Kimi token (`own`, the
    credential with its claims), or the server's pool through proxy key `key_id` (None on loopback).
    `caller` names whoever asks, for the continuation map: never the token itself, but a hash of
    what was presented, or the key's id."""

    own: Optional[tokens.Credential] = None
    key_id: Optional[str] = None
    caller: str = "key:local"
    presented: tuple[tokens.Credential, ...] = ()  # every own token sent (comma-separated), `own` among them
    stream_limit: int = 0  # concurrent streams the proxy key may hold (0: no cap)
    key_label: str = field(default="", compare=False)  # the proxy key's label, for the request log only
    allowed_models: tuple[str, ...] = ()  # the models (ids or aliases) the proxy key may ask for (empty: all)


def choose_access(credential: Optional[str], remote_addr: Optional[str], keyring: "Keyring",
                  forwarded: bool = False) -> Access:
    """The access this credential grants; AuthRejected (401) or RateLimited (429) when it grants none.
    `forwarded`: the request came through a proxy (it carries a forwarding header), so its socket
    address says nothing of where it came from, and it is never served key-less."""
    presented = [tokens.credential(token) for token in tokens.split_tokens(credential or "")]
    own = [c for c in presented if c.claims is not None]
    if own:
        # Several comma-separated tokens: spread the load; the caller is all of them, as presented.
        return Access(own=random.choice(own), caller="own:" + token_ref(credential or ""), presented=tuple(own))
    key = keyring.find(credential)
    if key is not None:
        keyring.check_expiry(key)
        keyring.count_use(key)
        return Access(key_id=key["id"], caller="key:" + key["id"], stream_limit=keyring.stream_limit(key),
                      key_label=key.get("label") or "", allowed_models=tuple(key.get("allowed_models") or ()))
    if keyring.lends_keyless() and not forwarded and _is_loopback(remote_addr):
        return Access()
    raise AuthRejected(KEY_REQUIRED_MESSAGE, code="invalid_api_key")


def require_model(access: Access, model_id: str, resolve: Callable[[str], str]) -> None:
    """Returns when the access may use this model; PermissionDenied (403) naming the allowed ones when
    its key is limited to others. `resolve` names the model table entry an id or alias stands for."""
    if not policies.is_model_allowed(access.allowed_models, model_id, resolve):
        raise PermissionDenied(f"This API key may use only these models: {', '.join(access.allowed_models)} "
                               f"(not {model_id!r}).", code="model_not_allowed", param="model")


def token_ref(token: str) -> str:
    """A name for a token (or a comma-separated list of them) that cannot be turned back into it."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


class Keyring:
    """Proxy API keys: from API_KEYS, and created on the page (only their SHA-256 is kept)."""

    def __init__(self, store: Store, api_keys: str = "", rate_limit: int = 0, keyless_loopback: bool = True,
                 max_streams: int = 0):
        self.store = store
        self.rate_limit = rate_limit  # requests per minute per key; 0: unlimited
        self.max_streams = max_streams  # concurrent streams per key; 0: no cap
        self.keyless_loopback = keyless_loopback  # LEND_WITHOUT_KEY: loopback callers served while no key exists
        self.env = {}
        for number, key in enumerate(tokens.split_tokens(api_keys), 1):
            digest = hash_key(key)
            self.env[digest] = {"id": "env-" + digest[:8], "label": f"API_KEYS #{number}",
                                "prefix": short_prefix(key), "source": "env"}

    def has_keys(self) -> bool:
        return bool(self.env) or bool(self.store.read("keys"))

    def lends_keyless(self) -> bool:
        """Whether callers on this machine (loopback, not through a proxy) are served without a key."""
        return self.keyless_loopback and not self.has_keys()

    def find(self, credential: Optional[str]) -> Optional[dict[str, Any]]:
        """The key record a presented credential matches, or None."""
        given = (credential or "").strip()
        if not given:
            return None
        digest = hash_key(given)  # keys are long random strings: a plain hash cannot be reversed
        if digest in self.env:
            return self.env[digest]
        return next((k for k in self.store.read("keys").values() if secrets.compare_digest(k["hash"], digest)),
                    None)

    def count_use(self, key: dict[str, Any]) -> None:
        """Count one request against the key's per-minute limit; RateLimited once it is used up."""
        limit = key.get("rate_limit") or self.rate_limit
        if limit:
            count, left = self.store.hit("key:" + key["id"], RATE_WINDOW)
            if count > limit:
                raise RateLimited(f"This API key may make {limit} requests per minute; try again shortly.",
                                  retry_after=max(1, math.ceil(left)), code="key_rate_limited")
        if key.get("daily_cap"):
            count, left = self.store.hit("key-day:" + key["id"], DAY_WINDOW)
            if count > key["daily_cap"]:
                raise RateLimited(f"This API key may make {key['daily_cap']} requests per day (its daily cap); the "
                                  "count starts again at midnight UTC.",
                                  retry_after=max(1, math.ceil(left)), code="key_daily_cap")
        now = int(time.time())
        if now - (_as_int(self.store.recall("key-used:" + key["id"])) or 0) >= 60:  # a minute is precise enough
            self.store.remember("key-used:" + key["id"], str(now), 90 * 24 * 3600)

    @staticmethod
    def check_expiry(key: dict[str, Any], now: Optional[float] = None) -> None:
        """Returns while the key has not expired; AuthRejected (401) once its expiry date has passed."""
        expires_at = key.get("expires_at")
        if expires_at and (time.time() if now is None else now) >= expires_at:
            raise AuthRejected(f"This API key expired on {policies.expiry_date(expires_at)} (UTC); ask the server's "
                               "owner for a new one.", code="key_expired")

    def stream_limit(self, key: dict[str, Any]) -> int:
        """How many streams the key may hold at once: its own cap, else KEY_MAX_STREAMS (0: no cap)."""
        return key.get("max_streams") or self.max_streams

    def hold_stream(self, access: Access) -> "StreamHold":
        """One of the key's concurrent streams, given back by the hold's release(); RateLimited (429) when
        the key holds its limit already, so one key holder cannot take every account slot."""
        hold = StreamHold(self.store, access.key_id, secrets.token_hex(6))
        if not access.key_id or not access.stream_limit:
            return hold
        limit, now = access.stream_limit, time.time()

        def take(held: dict) -> bool:
            mine = {k: v for k, v in held.get(access.key_id, {}).items() if v > now}
            if len(mine) >= limit:
                return False
            held[access.key_id] = {**mine, hold.hold_id: now + STREAM_HOLD_SECONDS}
            return True

        if not self.store.modify("key_streams", take):
            raise RateLimited(f"This API key may have at most {limit} requests open at once (its stream limit); "
                              "wait for one to finish.",
                              retry_after=2, code="key_streams_limited")
        hold.is_held = True
        return hold

    def create(self, label: str = "", rate_limit: Optional[int] = None, max_streams: Optional[int] = None,
               **policy: Any) -> tuple[str, dict[str, Any]]:
        """A new key: (the key itself, to show once, and its record). `policy`: `allowed_models`,
        `daily_cap`, `expires_at` (see set_policy)."""
        key = KEY_ALPHABET_PREFIX + secrets.token_urlsafe(32)
        record = {"id": secrets.token_hex(4), "hash": hash_key(key), "prefix": short_prefix(key),
                  "label": label.strip()[:80], "created_at": time.time(), "source": "page",
                  **_policy_fields(rate_limit=rate_limit, max_streams=max_streams, **policy)}
        self.store.modify("keys", lambda keys: keys.__setitem__(record["id"], record))
        return key, record

    def set_policy(self, key_id: str, label: str, **policy: Any) -> dict[str, Any]:
        """Replace a page key's label and limits: `rate_limit`, `max_streams`, `daily_cap` (None: the
        default), `allowed_models` (empty: all), `expires_at` (Unix seconds, None: never). Keys from
        API_KEYS keep the global defaults: BadRequest."""
        if key_id.startswith("env-"):
            raise BadRequest("Keys from API_KEYS keep the server's defaults; their limits cannot be edited.",
                             code="key_from_env")

        def put(keys: dict) -> Optional[dict[str, Any]]:
            if key_id not in keys:
                return None
            keys[key_id].update(label=label.strip()[:80], **_policy_fields(**policy))
            return keys[key_id]

        record = self.store.modify("keys", put)
        if record is None:
            raise NotFound(f"No API key {key_id!r}.", code="key_not_found")
        return record

    def revoke(self, key_id: str) -> None:
        if key_id.startswith("env-"):
            raise NotFound("Keys from API_KEYS are revoked by removing them from that setting.",
                           code="key_from_env")
        if self.store.modify("keys", lambda keys: keys.pop(key_id, None)) is None:
            raise NotFound(f"No API key {key_id!r}.", code="key_not_found")

    def views(self) -> list[dict[str, Any]]:
        """Every key without its hash, environment keys first, then by creation time."""
        stored = sorted(self.store.read("keys").values(), key=lambda k: k.get("created_at", 0))
        return [{**{k: v for k, v in key.items() if k != "hash"},
                 "own_rate_limit": key.get("rate_limit"), "own_max_streams": key.get("max_streams"),
                 "rate_limit": key.get("rate_limit") or self.rate_limit or None,
                 "max_streams": self.stream_limit(key) or None,
                 "expires_on": policies.expiry_date(key.get("expires_at")),
                 "is_expired": bool(key.get("expires_at")) and time.time() >= key["expires_at"],
                 "last_used": _as_int(self.store.recall("key-used:" + key["id"]))}
                for key in [*self.env.values(), *stored]]


class StreamHold:
    """One stream a proxy key holds; release() gives it back (once, and only when it was held)."""

    def __init__(self, store: Store, key_id: Optional[str], hold_id: str):
        self.store, self.key_id, self.hold_id = store, key_id, hold_id
        self.is_held = False

    def release(self) -> None:
        if not self.is_held:
            return
        self.is_held = False
        self.store.modify("key_streams", lambda held: held.get(self.key_id, {}).pop(self.hold_id, None))


class AcceptedTokens:
    """Which callers' own tokens Kimi accepted lately. A token's signature cannot be checked here, so a
    self-made JWT with a future `exp` passes choose_access(); before such a token gets heavy work done
    (attachments fetched, kept and uploaded), Kimi's cheap account check (`probe`) must have accepted it
    within ACCEPTED_TOKEN_SECONDS."""

    def __init__(self, store: Store, probe: Callable[[str], bool], seconds: int = ACCEPTED_TOKEN_SECONDS):
        self.store, self.probe, self.seconds = store, probe, seconds

    def require(self, token: str) -> None:
        """Returns when Kimi accepts the token; AuthRejected (401) when it does not, KimiError when it
        cannot be asked."""
        name = "accepted:" + token_ref(token)
        if self.store.recall(name):
            return
        if not self.probe(token):
            raise AuthRejected("Kimi rejected this token.", code="invalid_token")
        self.store.remember(name, "1", self.seconds)


def _policy_fields(rate_limit: Optional[int] = None, max_streams: Optional[int] = None, daily_cap: Optional[int] = None,
                   allowed_models: tuple[str, ...] = (), expires_at: Optional[float] = None) -> dict[str, Any]:
    """A key record's limits as stored: None (or an empty list) where the default applies."""
    return {"rate_limit": rate_limit or None, "max_streams": max_streams or None, "daily_cap": daily_cap or None,
            "allowed_models": list(allowed_models), "expires_at": expires_at or None}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _as_int(value: Optional[str]) -> Optional[int]:
    return int(value) if value else None


def _is_loopback(remote_addr: Optional[str]) -> bool:
    try:
        return ipaddress.ip_address(remote_addr or "").is_loopback
    except ValueError:
        return False


def bearer(authorization: Optional[str]) -> Optional[str]:
    """The credential of an `Authorization: Bearer …` header."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None
