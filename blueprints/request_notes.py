"""What an API request leaves in the request log and usage counts (gateway/usage_book.py): the views note
on flask.g what they learn (who asked, the turn, the error), and blueprints/observability.py turns the
notes into one RequestEntry when the body is done, and into the Server-Timing header."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Optional

from flask import g

from gateway.access import Access
from gateway.reply import Reply
from gateway.usage import LOCAL_CALLER, OWN_TOKEN, RequestEntry
from kimi.errors import KimiError

API_BLUEPRINTS = ("openai", "responses", "anthropic", "gemini")
MAX_BODY_BYTES = 64 * 1024  # of a request body kept with LOG_BODIES
_WORD_START = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass
class Notes:
    """One request's notes. Mutable on purpose: a streamed answer's reply goes on counting tokens, and
    may meet an error, after the view has returned."""

    key_id: str = ""
    key_label: str = ""
    account: str = ""
    model_asked: str = ""
    stream: bool = False
    reply: Optional[Reply] = None
    opened_at: Optional[float] = None  # time.monotonic() when the turn began opening
    upstream_ms: Optional[float] = None  # Kimi's time to first byte (or to its refusal)
    error: str = ""
    body: Optional[str] = None


def notes() -> Notes:
    """This request's notes (made on first use)."""
    if "request_notes" not in g:
        g.request_notes = Notes()
    return g.request_notes


def note_access(access: Access) -> None:
    taken = notes()
    taken.key_id = access.key_id or (OWN_TOKEN if access.own else LOCAL_CALLER)
    taken.key_label = access.key_label


def note_key(key: Optional[dict], is_own: bool = False) -> None:
    """Who asked, where no access was granted: a proxy key refused over its per-minute limit, or a
    model list's caller (its own token, a key, or, unnamed, anyone)."""
    taken = notes()
    if is_own:
        taken.key_id = OWN_TOKEN
    elif key is not None:
        taken.key_id, taken.key_label = key["id"], key.get("label") or ""


def note_turn(model_asked: str, stream: bool, opened_at: float, account: Optional[str], is_own: bool,
              reply: Optional[Reply]) -> None:
    """The turn's part once it opened (`reply`) or failed to (None): Kimi's first byte or refusal is now."""
    taken = notes()
    taken.model_asked, taken.stream, taken.opened_at, taken.reply = model_asked, stream, opened_at, reply
    if reply is None and not account:
        return  # refused before any account was chosen: Kimi was not called
    taken.upstream_ms = (time.monotonic() - opened_at) * 1000
    taken.account = OWN_TOKEN if is_own else account


def note_error(err: KimiError) -> None:
    notes().error = error_kind(err)


def note_body(raw: bytes) -> None:
    notes().body = raw[:MAX_BODY_BYTES].decode("utf-8", errors="replace")


def error_kind(err: KimiError) -> str:
    """The error's code, or its class's name in snake case (UpstreamTimeout: upstream_timeout)."""
    return err.code or _WORD_START.sub("_", type(err).__name__).lower()


def kimi_part_ms(taken: Optional[Notes], now: float) -> Optional[float]:
    """Kimi's share of the time before the response headers (`now`): its time to first byte, or for a whole
    answer read before the headers, the whole time the reply was open."""
    if taken is None or taken.upstream_ms is None:
        return None
    reply = taken.reply
    if reply is not None and reply.closed_at is not None and reply.closed_at <= now:
        return (reply.closed_at - taken.opened_at) * 1000
    return taken.upstream_ms


def server_timing(elapsed_ms: float, taken: Optional[Notes], now: float) -> str:
    """The Server-Timing header (https://www.w3.org/TR/server-timing/): the gateway's own time before the
    headers and, when Kimi was called, Kimi's time to first byte."""
    kimi_part = kimi_part_ms(taken, now)
    own = f"gateway;dur={max(0.0, elapsed_ms - (kimi_part or 0.0)):.1f}"
    if kimi_part is None:
        return own
    return f'{own}, kimi;dur={taken.upstream_ms:.1f};desc="Kimi time to first byte"'


def request_entry(taken: Optional[Notes], *, at: float, request_id: str, method: str, path: str, api: str,
                  status: int, first_byte_ms: float, duration_ms: float) -> RequestEntry:
    """The request log's entry for a request whose body is done."""
    taken = taken or Notes()
    reply = taken.reply
    error = taken.error or (error_kind(reply.error) if reply is not None and reply.error is not None else "")
    error = error or (f"http_{status}" if status >= 400 else "")  # a werkzeug error (405, 413, ...)
    return RequestEntry(
        at=at, request_id=request_id, method=method, path=path, api=api, key_id=taken.key_id,
        key_label=taken.key_label, account=taken.account, status=status, error=error,
        model_asked=taken.model_asked, model_served=reply.model_id if reply is not None else "",
        stream=taken.stream, continuation=reply.continuation if reply is not None else "",
        first_byte_ms=round(first_byte_ms, 1), duration_ms=round(duration_ms, 1),
        upstream_first_byte_ms=None if taken.upstream_ms is None else round(taken.upstream_ms, 1),
        tokens_in=reply.prompt_tokens if reply is not None else 0,
        tokens_out=reply.output_tokens.tokens if reply is not None else 0,
        body=taken.body if taken.key_id else None)  # a refused stranger's body is not worth a byte of the store
