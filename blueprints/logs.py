"""Logging set-up: one format for the whole app, and a filter that keeps secrets out of every line."""
from __future__ import annotations

import logging
import re

# JWTs (kimi-auth tokens), bearer credentials, cookie values and sk- keys, wherever they appear.
_SECRETS = re.compile(
    r"(eyJ[\w-]{4,}\.[\w-]+\.[\w-]*)"
    r"|((?:bearer|Bearer|BEARER)\s+)\S+"
    r"|(kimi-auth=)[^;\s]+"
    r"|\b(sk-)[\w-]{6,}")


def redact(text: str) -> str:
    """`text` with every token-like value replaced by a short marker."""
    return _SECRETS.sub(_mask, text)


def _mask(match: re.Match) -> str:
    if match.group(1):
        return "eyJ…[redacted]"
    prefix = match.group(2) or match.group(3) or match.group(4)
    return f"{prefix}[redacted]"


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
