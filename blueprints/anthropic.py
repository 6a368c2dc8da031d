"""Anthropic-compatible API: /v1/messages and /v1/messages/count_tokens (also with ?beta=true)."""
from __future__ import annotations

from typing import Optional

from flask import Blueprint, Response, jsonify, request

from blueprints.formats import anthropic as fmt
from blueprints.request_notes import note_error
from blueprints.upstream import STREAM_HEADERS, answered_as, conversation_headers, json_body, open_events
from gateway.access import bearer
from kimi.errors import KimiError

bp = Blueprint("anthropic", __name__)


@bp.post("/v1/messages")
def messages():
    chat = fmt.parse_request(json_body())
    events = open_events(chat, _credential())
    headers, chat = conversation_headers(events), answered_as(chat, events)
    if not chat.stream:
        return jsonify(fmt.whole_message(events, chat)), 200, headers
    return Response(fmt.stream_message(events, chat), mimetype="text/event-stream",
                    headers={**headers, **STREAM_HEADERS})


@bp.post("/v1/messages/count_tokens")
def count_tokens():
    """An estimate computed here: no Kimi token is needed and nothing is sent upstream."""
    return jsonify(fmt.count_tokens(json_body()))


def _credential() -> Optional[str]:
    # The SDK sends `x-api-key`; Claude Code with ANTHROPIC_AUTH_TOKEN sends a bearer token.
    return request.headers.get("x-api-key") or bearer(request.headers.get("Authorization"))


@bp.errorhandler(KimiError)
def kimi_error(err: KimiError):
    note_error(err)
    return jsonify(fmt.error_body(err)), fmt.error_status(err), err.response_headers()
