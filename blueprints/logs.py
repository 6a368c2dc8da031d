"""Logging set-up: JSON lines carrying the request id, and a filter that keeps secrets out of
every line."""
from __future__ import annotations

import logging
import re
import time

import orjson
from flask import g, has_request_context

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


# Fields a record may carry through `extra=` that belong in the JSON line.
_EXTRA_FIELDS = ("status", "duration_ms", "first_byte_ms", "format", "route")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and known extras."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
                "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                "request_id": getattr(record, "request_id", None) or _request_id()}
        line.update({key: getattr(record, key) for key in _EXTRA_FIELDS if hasattr(record, key)})
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line).decode()


def _request_id() -> str:
    return getattr(g, "request_id", None) if has_request_context() else None


def configure_logging(level: str, log_format: str = "json") -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    for handler in root.handlers:
        if any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.setFormatter(JsonFormatter() if log_format == "json" else
                                 logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.setLevel(level.upper())
