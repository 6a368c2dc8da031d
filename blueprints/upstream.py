"""Shared view helpers: the app's Kimi client and reading a JSON body once."""
from __future__ import annotations

from typing import Any

import orjson
from flask import current_app, request

from kimi.client import KimiClient
from kimi.errors import BadRequest


def upstream() -> KimiClient:
    return current_app.extensions["kimi_client"]


def settings() -> dict:
    return current_app.config["SETTINGS"]


def json_body() -> Any:
    """The parsed request body; BadRequest when it is not JSON."""
    raw = request.get_data(cache=False)
    if not raw:
        raise BadRequest("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None
