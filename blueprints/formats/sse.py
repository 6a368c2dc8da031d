"""Server-sent events lines, as bytes ready for the socket."""
from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


def data(payload: Any) -> bytes:
    """One `data:` event (what OpenAI and Gemini streams send)."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def event(name: str, payload: Any) -> bytes:
    """A named event (`event:` line first), as Anthropic streams send them."""
    return b"event: " + name.encode("ascii") + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
