"""Shared view helpers: the gateway's services, reading a JSON body once, and opening a Kimi chat for
the caller (gateway/turn.py does the opening: access, continuation, fallback, the lent account)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import orjson
from flask import Flask, current_app, request

from blueprints.formats.common import MAX_JSON_DEPTH, nests_deeper_than
from blueprints.proxy import came_through_proxy
from gateway.access import Access, choose_access
from gateway.reply import Reply
from gateway.services import Services
from gateway.turn import Turn
from kimi.errors import BadRequest
from kimi.events import ChatRequest

_SERVICES = "kimi_gateway"


def install(app: Flask, services: Services) -> None:
    app.extensions[_SERVICES] = services


def services(app: Optional[Flask] = None) -> Services:
    """Everything gateway/services.py built for this app (the current one by default)."""
    return (app or current_app).extensions[_SERVICES]


def json_body() -> Any:
    """The parsed request body; BadRequest when it is not JSON or nests deeper than MAX_JSON_DEPTH."""
    raw = request.get_data(cache=False)
    if not raw:
        raise BadRequest("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None
    if nests_deeper_than(body, MAX_JSON_DEPTH):
        raise BadRequest(f"The request body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep.")
    return body


def caller_access(credential: Optional[str]) -> Access:
    """What the credential grants this request (AuthRejected or RateLimited when nothing)."""
    return choose_access(credential, request.remote_addr, services().keyring,
                         forwarded=came_through_proxy(request.environ))


def open_events(chat: ChatRequest, credential: Optional[str], access: Optional[Access] = None) -> Reply:
    """Choose the Kimi token for this caller and open the chat (KimiError before any byte is sent).

    Every format continues a Kimi chat from its body's `conversation_id` or, for SDKs that cannot
    add body fields, from an `X-Conversation-Id` request header; `X-Keep-Conversation: true` asks
    that a new chat be kept for later turns even where the gateway would delete it. Without either,
    a history that continues an earlier answer of this gateway goes to that answer's chat as its new
    turns only (native continuation), unless NATIVE_CONTINUATION is off. `access`: when the view
    already chose it (then `credential` is not read again).
    """
    gateway = services()
    access = access or caller_access(credential)
    return Turn(_with_conversation_headers(chat), access, gateway.turns, gateway.router, gateway.pool).open()


def _with_conversation_headers(chat: ChatRequest) -> ChatRequest:
    """The request with what its HTTP headers add about the conversation (a copy: the format's stays)."""
    header_id = None if chat.conversation_id else request.headers.get("X-Conversation-Id") or None
    keep = request.headers.get("X-Keep-Conversation", "").strip().lower() in ("1", "true", "yes")
    if header_id is None and not keep:
        return chat
    return replace(chat, conversation_id=chat.conversation_id or header_id,
                   keep_conversation=chat.keep_conversation or keep)


def conversation_headers(events: Reply) -> dict[str, str]:
    """Every reply names its Kimi chat, so any client can continue it; how the turn reached Kimi
    (`native`: into an existing chat, `folded`: history folded into a new chat, `new`); and on the
    Connect path the model table entry that served it (another one after an overload fallback)."""
    headers = {"X-Conversation-Id": events.chat_id or ""}
    if events.continuation:
        headers["X-Kimi-Continuation"] = events.continuation
    if events.model_id:
        headers["X-Kimi-Scenario"] = events.model_id
    return headers


STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
