"""The request log's "copy as cURL" for an entry: the same call again, aimed at this server, as a shell command.

Pure: a RequestEntry and the server's base URL in, the command out. The credential is never the one the
caller used but the shell variable $KIMI_GATEWAY_KEY, in the header that API's SDKs send. The body is the
logged one when LOG_BODIES kept it, else the smallest valid body for that API with the logged model and a
placeholder message (the log never keeps prompts otherwise).
"""
from __future__ import annotations

import json
import shlex
from typing import Any

from gateway.usage import RequestEntry

KEY_VARIABLE = "$KIMI_GATEWAY_KEY"
PLACEHOLDER = "Hello"
ANTHROPIC_VERSION = "2023-06-01"
_AUTH_HEADERS = {"anthropic": "x-api-key", "gemini": "x-goog-api-key"}  # else Authorization: Bearer


def render_curl(entry: RequestEntry, base_url: str, fallback_model: str) -> str:
    """The command, one option per line; `fallback_model` fills in for an entry that names no model."""
    lines = [f"curl -sS -N -X {entry.method} {shlex.quote(base_url.rstrip('/') + entry.path)}",
             f'-H "{_auth_header(entry.api)}"']
    if entry.api == "anthropic":
        lines.append(f"-H {shlex.quote('anthropic-version: ' + ANTHROPIC_VERSION)}")
    if entry.method != "GET":
        body = entry.body if entry.body is not None else _minimal_body(entry, fallback_model)
        lines += [f"-H {shlex.quote('Content-Type: application/json')}", f"--data-raw {shlex.quote(body)}"]
    return " \\\n  ".join(lines)


def _auth_header(api: str) -> str:
    # Double quotes: the shell fills in the variable; nothing else in the header needs quoting.
    name = _AUTH_HEADERS.get(api)
    return f"{name}: {KEY_VARIABLE}" if name else f"Authorization: Bearer {KEY_VARIABLE}"


def _minimal_body(entry: RequestEntry, fallback_model: str) -> str:
    model = entry.model_asked or entry.model_served or fallback_model
    message = [{"role": "user", "content": PLACEHOLDER}]
    if entry.api == "gemini":  # the model is in the path
        return _json({"contents": [{"role": "user", "parts": [{"text": PLACEHOLDER}]}]})
    if entry.api == "anthropic" and entry.path.endswith("/count_tokens"):
        return _json({"model": model, "messages": message})
    body: dict[str, Any] = {"model": model, "messages": message}
    if entry.api == "responses":
        body = {"model": model, "input": PLACEHOLDER}
    elif entry.api == "anthropic":
        body = {"model": model, "max_tokens": 1024, "messages": message}
    return _json({**body, "stream": True} if entry.stream else body)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
