"""Anthropic Messages API translation (placeholder until the Anthropic format lands)."""
from __future__ import annotations

from typing import Any

from kimi.errors import KimiError


def error_body(err: KimiError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "api_error", "message": err.message}}
