"""What the owner's console shows of the gateway's use: one record per API request, and the counts the
dashboard draws from them (per proxy key and per account, in hours over a day and in days over a week).

The records and counts are written by the gateway as requests end; these are their shapes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# The subjects a count belongs to besides a key id or an account id.
LOCAL_CALLER = "local"  # a loopback caller served without a key (LEND_WITHOUT_KEY)
OWN_TOKEN = "own"  # callers with their own Kimi token: never named, counted together

SPANS = {"24h": (24, 3600), "7d": (7, 86400)}  # span -> (buckets, seconds per bucket)


@dataclass(frozen=True)
class RequestEntry:
    """One API request as the request log keeps it: never a prompt, an answer or a credential, unless
    body logging is on (then `body` holds the request body as received)."""

    at: float  # epoch seconds when the request arrived
    request_id: str
    method: str
    path: str  # without the query string (it may carry a key)
    api: str  # openai, responses, anthropic, gemini
    key_id: str  # a proxy key's id, LOCAL_CALLER or OWN_TOKEN
    key_label: str
    account: str  # the lent account's id, OWN_TOKEN, or "" when no account was reached
    status: int
    error: str = ""  # the error's code (e.g. "rate_limited", "upstream_timeout"), "" on success
    model_asked: str = ""
    model_served: str = ""
    stream: bool = False
    continuation: str = ""  # native, folded, new, or "" when no turn opened
    first_byte_ms: Optional[float] = None
    duration_ms: float = 0.0
    upstream_first_byte_ms: Optional[float] = None  # Kimi's part of first_byte_ms
    tokens_in: int = 0  # estimates
    tokens_out: int = 0
    body: Optional[str] = None  # only with LOG_BODIES


@dataclass(frozen=True)
class Totals:
    requests: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    median_first_byte_ms: Optional[float] = None  # None: no request in the range


@dataclass(frozen=True)
class Series:
    """One subject's counts: a Totals per bucket (aligned with UsageSummary.starts) and over them all."""

    subject: str  # a key id, an account id, LOCAL_CALLER, OWN_TOKEN, or "all"
    points: tuple[Totals, ...]
    totals: Totals


@dataclass(frozen=True)
class UsageSummary:
    span: str  # a key of SPANS
    bucket_seconds: int
    starts: tuple[float, ...]  # each bucket's start, epoch seconds, oldest first
    overall: Series
    keys: tuple[Series, ...]  # busiest first
    accounts: tuple[Series, ...]
