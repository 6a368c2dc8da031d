"""Shared view helpers: the gateway's services, reading a JSON body once, and opening a Kimi chat for
the caller (gateway/turn.py does the opening: access, continuation, fallback, the lent account)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import time

import gevent
import orjson
from flask import Flask, current_app, request
from gevent import monkey

from blueprints.formats.common import MAX_JSON_DEPTH, nests_deeper_than
from blueprints.proxy import came_through_proxy
from blueprints.request_notes import note_access, note_body, note_key, note_turn
from gateway.access import Access, choose_access, require_model
from gateway.catalogue import pool_credentials
from gateway.reply import Reply
from gateway.services import Services
from gateway.turn import Turn
from kimi import tokens
from kimi.errors import BadRequest, RateLimited, RequestTimeout
from kimi.events import ChatRequest
from kimi.models import ModelSpec

_SERVICES = "kimi_gateway"


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def install(app: Flask, services: Services) -> None:
    app.extensions[_SERVICES] = services
    app.before_request(_read_form_in_time)


def services(app: Optional[Flask] = None) -> Services:
    """Everything gateway/services.py built for this app (the current one by default)."""
    return (app or current_app).extensions[_SERVICES]


def json_body() -> Any:
    """The parsed request body; BadRequest when it is not JSON or nests deeper than MAX_JSON_DEPTH,
    RequestTimeout (408) when it does not arrive within BODY_READ_TIMEOUT."""
    raw = read_body_in_time(cache=False)
    if services().settings["log_bodies"]:
        note_body(raw)
    if not raw:
        raise BadRequest("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None
    if nests_deeper_than(body, MAX_JSON_DEPTH):
        raise BadRequest(f"The request body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep.")
    return body


def read_body_in_time(cache: bool) -> bytes:
    """The raw request body, read within BODY_READ_TIMEOUT seconds. Every body is read before its
    credential is checked, and gunicorn's keep-alive bounds only the headers: without a deadline a
    caller trickling a byte a second holds a worker connection as long as it likes."""
    if not monkey.is_module_patched("socket"):  # not in gunicorn's gevent worker: Flask's test client
        return request.get_data(cache=cache)
    seconds = services().settings["body_read_timeout"]
    late = RequestTimeout(f"The request body did not arrive within {seconds:g} seconds (BODY_READ_TIMEOUT).",
                          code="body_timeout")
    with gevent.Timeout(seconds, late):
        return request.get_data(cache=cache)


def _read_form_in_time() -> None:
    # Page forms (the /auth login among them) are parsed from the cached body, read under the same deadline.
    if request.mimetype in _FORM_TYPES:
        read_body_in_time(cache=True)


def caller_access(credential: Optional[str]) -> Access:
    """What the credential grants this request (AuthRejected or RateLimited when nothing)."""
    keyring = services().keyring
    try:
        access = choose_access(credential, request.remote_addr, keyring, forwarded=came_through_proxy(request.environ))
    except RateLimited:
        note_key(keyring.find(credential))  # the refused key, for the request log: a second read, when refused only
        raise
    note_access(access)
    return access


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
    require_model(access, chat.model, lambda model_id: gateway.router.models.resolve(model_id).id)  # 403 when not
    hold = gateway.keyring.hold_stream(access)  # 429 when the key holds KEY_MAX_STREAMS already
    turn = Turn(_with_conversation_headers(chat), access, gateway.turns, gateway.router, gateway.pool, hold)
    opened_at, reply = time.monotonic(), None
    try:
        reply = turn.open()
        return reply
    finally:  # Kimi's time to its first byte, or to its refusal, and which account it spent
        note_turn(chat.model, chat.stream, opened_at, turn.account, turn.own is not None, reply)


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
    Connect path the model that served it; after an overload fallback, X-Kimi-Fallback-From names the
    model asked for."""
    named = {"X-Kimi-Continuation": events.continuation, "X-Kimi-Scenario": events.model_id,
             "X-Kimi-Fallback-From": events.fallback_from}
    return {"X-Conversation-Id": events.chat_id or "", **{name: value for name, value in named.items() if value}}


def listed_models(credential: Optional[str]) -> list[ModelSpec]:
    """The models a model list shows this caller: the table's and, for the caller's own Kimi token,
    its account's catalogue; for anyone else, the saved accounts' catalogues together. Never waits on Kimi."""
    gateway = services()
    _note_lister(gateway, credential)
    return gateway.turns.catalogue.listed(_catalogue_credentials(gateway, credential))


def _note_lister(gateway: Services, credential: Optional[str]) -> None:
    """Who asks for a model list (no access is chosen for one), for the request log."""
    is_own = any(c.claims is not None for c in map(tokens.credential, tokens.split_tokens(credential or "")))
    note_key(None if is_own else gateway.keyring.find(credential), is_own=is_own)


def find_model(credential: Optional[str], model_id: str) -> Optional[ModelSpec]:
    """The listed model of that id, or None."""
    return next((spec for spec in listed_models(credential) if spec.id == model_id), None)


def _catalogue_credentials(gateway: Services, credential: Optional[str]) -> list[tokens.Credential]:
    own = [tokens.credential(token.strip()) for token in (credential or "").split(",") if token.strip()]
    own = [presented for presented in own if presented.is_connect]
    return own or pool_credentials(gateway.store.read("accounts"))


def answered_as(chat: ChatRequest, events: Reply) -> ChatRequest:
    """The request as its reply names it: after an overload fallback, with the model that answered in
    `model` (a copy), so no format relabels a fallback's answer as the model asked for."""
    return replace(chat, model=events.model_id) if events.fallback_from else chat


STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
