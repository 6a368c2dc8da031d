"""Kimi's nested objects as event values: a web source (A.8), a Connect error (A.11), a block exception
(D.4). Pure: used by kimi/connect/parse.py.
"""
from __future__ import annotations

import math
from typing import Optional

from kimi.events import Source, UpstreamError

_RETRACT = "SEVERITY_BLOCK_RETRACT"


def parse_source(item: dict) -> Optional[Source]:
    """The Source of a flat `{id, base, refIndex}` or a `{searchResult: {...}}` item (None: no url)."""
    result = item.get("searchResult", item)
    base = result.get("base") or result
    url = base.get("url")
    if not url:
        return None
    ref_id = result.get("id")
    return Source(ref_id="" if ref_id is None else str(ref_id), url=url,
                  title=base.get("title") or "", site_name=base.get("siteName") or "",
                  snippet=base.get("snippet") or "")


def parse_error(error: dict) -> UpstreamError:
    """The UpstreamError of a Connect error object (A.11); text prefers the localized message."""
    reason = message = ""
    is_paywall = False
    retry_delay = None
    for detail in error.get("details") or ():
        debug = detail.get("debug") or {}
        reason = reason or debug.get("reason") or ""
        message = message or (debug.get("localizedMessage") or {}).get("message") or ""
        is_paywall = is_paywall or "paywall" in debug
        retry_delay = retry_delay or read_retry_delay(debug.get("retryDelay"))
    return UpstreamError(code=error.get("code") or "", reason=reason, message=message or error.get("message") or "",
                         is_paywall=is_paywall, retry_delay=retry_delay)


def read_retry_delay(value: object) -> Optional[int]:
    """Whole seconds (rounded up) of a google.rpc.RetryInfo `retryDelay` as Connect renders it in a
    detail's `debug`: a protobuf Duration, "30s" or "1.5s" in JSON, or {"seconds": 30, "nanos": 0}."""
    if isinstance(value, dict):
        seconds = _number(value.get("seconds")) + _number(value.get("nanos")) / 1e9
    elif isinstance(value, str) and value.endswith("s"):
        seconds = _number(value[:-1])
    else:
        return None
    return math.ceil(seconds) if 0 < seconds < 1e7 else None


def _number(value: object) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def parse_exception(exception: dict) -> UpstreamError:
    """The UpstreamError of a `block.exception` (D.4): its reason says what failed; a retracting severity
    means the text already shown was withdrawn, which the message tells the caller."""
    error = exception.get("error") or exception
    message = (error.get("localizedMessage") or {}).get("message") or error.get("message") or ""
    if error.get("severity") == _RETRACT:
        message = f"{message} (answer withdrawn)".lstrip()
    return UpstreamError(code=error.get("code") or "block_exception", reason=error.get("reason") or "",
                         message=message)
