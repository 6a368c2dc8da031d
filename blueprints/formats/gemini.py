"""Google Gemini API translation (placeholder until the Gemini format lands)."""
from __future__ import annotations

from typing import Any

from kimi.errors import KimiError


def error_body(err: KimiError) -> dict[str, Any]:
    return {"error": {"code": err.status, "message": err.message, "status": "INTERNAL"}}
