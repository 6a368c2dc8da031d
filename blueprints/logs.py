"""Logging set-up: JSON lines carrying the request id, and a filter that keeps secrets out of
every line."""
from __future__ import annotations

import functools
import logging
import re
import time

import orjson
from flask import g, has_request_context

# JWTs (kimi-auth tokens), bearer credentials, cookie values and sk- keys, wherever they appear. Linear
# in the line's length whatever a caller sends (an access-log line carries a path of the caller's
# choosing): a JWT is looked for only where a run of word characters begins, and no repeat gives back
# what it took. With `eyJ[\w-]{4,}` free to start anywhere, `/eyJ-eyJ-eyJ-…` made every `eyJ` scan
# the rest of the run again: quadratic (64 KB took 2.4 s).
_SECRETS = re.compile(
    r"(?<![\w-])(eyJ[\w-]{4,}+\.[\w-]++\.[\w-]*+)"
    r"|((?:bearer|Bearer|BEARER)\s++)\S++"
    r"|(kimi-auth=)[^;\s]++"
    r"|\b(sk-)[\w-]{6,}+")
MAX_LINE_CHARS = 16 * 1024  # longer log lines are cut: a caller's 20 MB body never fills the log
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.=;%")


def redact(text: str) -> str:
    """`text`, cut at MAX_LINE_CHARS, with every token-like value replaced by a short marker."""
    if len(text) > MAX_LINE_CHARS:
        text = _cut(text)
    return redact_secrets(text)


def redact_secrets(text: str) -> str:
    """`text` with every token-like value replaced by a short marker, in time linear in its length."""
    return _SECRETS.sub(_mask, text)


def _cut(text: str) -> str:
    """The first MAX_LINE_CHARS characters, less a token the cut went through (part of a token is
    no longer recognisable as one), and how much was left out."""
    end = MAX_LINE_CHARS
    while end and text[end - 1] in _TOKEN_CHARS:
        end -= 1
    return f"{text[:end]}…[{len(text) - end} more characters]"


def _mask(match: re.Match) -> str:
    if match.group(1):
        return "eyJ…[redacted]"
    prefix = match.group(2) or match.group(3) or match.group(4)
    return f"{prefix}[redacted]"


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # The message, formatted and redacted, replaces its template: formatters take it as it is.
        record.msg, record.args = redact(record.getMessage()), None
        return True


# Fields a record may carry through `extra=` that belong in the JSON line.
_EXTRA_FIELDS = ("status", "duration_ms", "first_byte_ms", "format", "route")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and known extras."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        line = {"time": _utc_second(int(record.created)), "level": record.levelname, "logger": record.name,
                "message": record.getMessage(), "request_id": fields.get("request_id") or _request_id()}
        line.update({key: fields[key] for key in _EXTRA_FIELDS if key in fields})
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line).decode()


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """The ISO time of a second: the lines of one second share it (strftime is most of a line's cost)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + "Z"


def _request_id() -> str:
    return getattr(g, "request_id", None) if has_request_context() else None


def configure_logging(level: str, log_format: str = "json") -> None:
    # What every record would look up and no line shows (the "Optimization" section of Python's logging
    # docs): the calling frame, the thread and the multiprocessing process name; ~3 us per line (bench/).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
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
