"""App-level error handlers for what no blueprint sees: unknown routes, wrong methods, oversized
bodies and crashes. The error body takes the shape of the API the path belongs to.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from blueprints.callers import is_anthropic_caller, is_google_caller
from blueprints.formats import anthropic, gemini, openai
from kimi.errors import KimiError

log = logging.getLogger(__name__)


def _is_gemini(path: str) -> bool:
    # Gemini paths live under /v1beta, under /v1 as `models/<id>:<method>`, and unversioned under
    # /models; a Google client's call to any other /v1 path is answered in its shape too.
    return (path.startswith(("/v1beta/", "/models")) or (path.startswith("/v1/models/") and ":" in path)
            or (path.startswith("/v1/") and is_google_caller()))


# Which API a path (and the caller's headers) belongs to -> that API's error body (first match wins).
ERROR_SHAPES = [
    (lambda path: path.startswith("/v1/messages"), anthropic.error_body),
    (_is_gemini, gemini.error_body),
    (lambda path: path.startswith("/v1/") and is_anthropic_caller(), anthropic.error_body),
    (lambda path: path.startswith("/v1/"), openai.error_body),
]


def register(app: Flask) -> None:
    app.register_error_handler(KimiError, _kimi_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _crash)


def _kimi_error(err: KimiError):
    return _render(err)


def _http_error(exc: HTTPException):
    err = KimiError(_http_message(exc), code=(exc.name or "error").lower().replace(" ", "_"))
    err.status = exc.code or 500
    err.is_retryable = False
    return _render(err)


def _crash(exc: Exception):
    # Logged once here with its traceback; the client gets a short message only.
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _render(KimiError("The gateway hit an internal error; it has been logged.", code="internal_error"))


def _render(err: KimiError):
    shape = next((body for belongs, body in ERROR_SHAPES if belongs(request.path)), openai.error_body)
    return jsonify(shape(err)), err.status, err.response_headers()


def _http_message(exc: HTTPException) -> str:
    if exc.code == 404:
        return f"No route for {request.method} {request.path}."
    if exc.code == 405:
        return f"{request.method} is not allowed on {request.path}."
    if exc.code == 413:
        return "The request body is too large (see MAX_BODY_MB)."
    return exc.description or exc.name
