"""Which API a caller speaks, told by its headers, for the paths several APIs share (`/v1/models`, and
the error bodies of routes nobody serves). Reads flask.request only."""
from __future__ import annotations

from flask import request


def is_google_caller() -> bool:
    """A Gemini client: its key in `x-goog-api-key` or `?key=`, or a Google SDK's client header
    (google-genai without an explicit api_version lists models at GET /v1/models)."""
    return bool(request.headers.get("x-goog-api-key") or request.args.get("key")
                or request.headers.get("x-goog-api-client"))


def is_anthropic_caller() -> bool:
    """An Anthropic client (the SDK and Claude Code send `anthropic-version` on every call)."""
    return bool(request.headers.get("anthropic-version"))
