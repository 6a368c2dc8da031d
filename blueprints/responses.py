"""OpenAI Responses API: POST /v1/responses (what Codex CLI speaks). Errors in OpenAI's shape."""
from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, Response, jsonify, request

from blueprints.formats import openai
from blueprints.formats import responses as fmt
from blueprints.upstream import STREAM_HEADERS, answered_as, conversation_headers, json_body, open_events
from gateway.access import bearer
from kimi.errors import KimiError

bp = Blueprint("responses", __name__)


@bp.post("/v1/responses")
def create_response():
    parsed = fmt.parse_request(json_body())
    events = open_events(parsed.chat, bearer(request.headers.get("Authorization")))
    headers, parsed = conversation_headers(events), replace(parsed, chat=answered_as(parsed.chat, events))
    if not parsed.chat.stream:
        return jsonify(fmt.whole_response(events, parsed)), 200, headers
    return Response(fmt.stream_response(events, parsed), mimetype="text/event-stream",
                    headers={**headers, **STREAM_HEADERS})


@bp.errorhandler(KimiError)
def kimi_error(err: KimiError):
    return jsonify(openai.error_body(err)), err.status, err.response_headers()
