"""Shared view helpers: reading a JSON body once, and opening a Kimi chat for the caller, on the
caller's own token or on an account lent by the pool (with failover before the first byte; see
gateway/turn.py for continuation, fallback and hygiene, gateway/lending.py for the pool)."""
from __future__ import annotations

from typing import Any, Optional

import orjson
from flask import Flask, current_app, request

from gateway.access import Keyring, choose_access
from blueprints.observability import count_upstream_error
from gateway.turn import Reply, Services, Turn, build_services
from kimi.errors import BadRequest, KimiError
from kimi.events import ChatRequest
from gateway.filters import Transform, limit_answer, stop_at_sequences
from gateway.pool import AccountPool
from kimi.router import UpstreamRouter
from kimi.tools import recognize_tool_calls


def install(app: Flask, settings: dict) -> None:
    """Ready what turns need beyond the client (after admin.install, which opens the store)."""
    app.extensions["turn_services"] = build_services(settings, app.extensions["kimi_client"],
                                                     app.extensions["store"])


def upstream() -> UpstreamRouter:
    return current_app.extensions["kimi_client"]


def settings() -> dict:
    return current_app.config["SETTINGS"]


def account_pool() -> AccountPool:
    return current_app.extensions["account_pool"]


def keyring() -> Keyring:
    return current_app.extensions["keyring"]


def turn_services() -> Services:
    return current_app.extensions["turn_services"]


def json_body() -> Any:
    """The parsed request body; BadRequest when it is not JSON."""
    raw = request.get_data(cache=False)
    if not raw:
        raise BadRequest("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None


def open_events(chat: ChatRequest, credential: Optional[str]) -> Reply:
    """Choose the Kimi token for this caller and open the chat (KimiError before any byte is sent).

    Every format continues a Kimi chat from its body's `conversation_id` or, for SDKs that cannot
    add body fields, from an `X-Conversation-Id` request header; `X-Keep-Conversation: true` asks
    that a new chat be kept for later turns even where the gateway would delete it. Without either,
    a history that continues an earlier answer of this gateway goes to that answer's chat as its new
    turns only (native continuation), unless NATIVE_CONTINUATION is off.
    """
    if not chat.conversation_id:
        chat.conversation_id = request.headers.get("X-Conversation-Id") or None
    if request.headers.get("X-Keep-Conversation", "").strip().lower() in ("1", "true", "yes"):
        chat.keep_conversation = True
    access = choose_access(credential, request.remote_addr, keyring())
    turn = Turn(chat, access, credential, turn_services(), upstream(), account_pool())
    try:
        stream = turn.open()
    except KimiError as err:
        count_upstream_error(err)
        raise
    return Reply(stream, event_filters(chat) + turn.transforms(), turn)


def event_filters(chat: ChatRequest) -> list[Transform]:
    """What happens to the neutral events between Kimi and the format, for this request."""
    transforms: list[Transform] = []
    if chat.max_tokens:  # innermost: a cut inside a <tool_call> element leaves it as text
        transforms.append(limit_answer(chat.max_tokens))
    if chat.tools:
        transforms.append(lambda events: recognize_tool_calls(events, chat.tools, chat.tool_choice))
    if any(chat.stop):  # after tool recognition: a stop sequence inside a <tool_call> never cuts the call
        transforms.append(stop_at_sequences(chat.stop))
    thinking = turn_services().thinking
    # Last: thinking shown as text (inline) never becomes a tool call nor meets a stop sequence.
    if thinking is not None:
        transforms.append(thinking)
    return transforms


def conversation_headers(events: Any) -> dict[str, str]:
    """Every reply names its Kimi chat, so any client can continue it; how the turn reached Kimi
    (`native`: into an existing chat, `folded`: history folded into a new chat, `new`); and on the
    Connect path the model table entry that served it (another one after an overload fallback)."""
    headers = {"X-Conversation-Id": events.chat_id or ""}
    continuation = getattr(events, "continuation", None)
    if continuation:
        headers["X-Kimi-Continuation"] = continuation
    model_id = getattr(events, "model_id", None)
    if model_id:
        headers["X-Kimi-Scenario"] = model_id
    return headers


STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
