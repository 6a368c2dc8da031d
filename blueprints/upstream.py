"""Shared view helpers: reading a JSON body once, and opening a Kimi chat for the caller."""
from __future__ import annotations

from typing import Any, Optional

import orjson
from flask import current_app, request

from blueprints.access import choose_token
from kimi.client import ChatStream, KimiClient
from kimi.errors import BadRequest
from kimi.events import ChatRequest


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


def open_events(chat: ChatRequest, credential: Optional[str]) -> ChatStream:
    """Choose the Kimi token for this caller and open the chat (KimiError before any byte is sent).

    Every format continues a Kimi chat from its body's `conversation_id` or, for SDKs that cannot
    add body fields, from an `X-Conversation-Id` request header.
    """
    if not chat.conversation_id:
        chat.conversation_id = request.headers.get("X-Conversation-Id") or None
    token = choose_token(credential, request.remote_addr, settings())
    return upstream().open_chat(chat, token)


def conversation_headers(events: ChatStream) -> dict[str, str]:
    """Every reply names its Kimi chat, so any client can continue it."""
    return {"X-Conversation-Id": events.chat_id or ""}


STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
