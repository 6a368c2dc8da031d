"""OpenAI Responses API: POST /v1/responses (what Codex CLI speaks), and GET / DELETE of the responses
the gateway keeps (gateway/response_archive.py) with their input items. Errors in OpenAI's shape."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from flask import Blueprint, Response, jsonify, request

from blueprints.formats import openai
from blueprints.formats import responses as fmt
from blueprints.request_notes import note_error
from blueprints.upstream import (STREAM_HEADERS, answered_as, caller_access, conversation_headers, json_body,
                                 open_events, services)
from gateway.access import Access, bearer
from gateway.reply import Reply
from kimi.errors import BadRequest, KimiError, NotFound

bp = Blueprint("responses", __name__)

MAX_LIST_LIMIT = 100  # OpenAI's bound on `limit` for input_items


@bp.post("/v1/responses")
def create_response():
    access = _access()
    parsed = fmt.parse_request(json_body(), _CallerArchive(access.caller))
    events = open_events(parsed.chat, None, access)
    headers, parsed = conversation_headers(events), replace(parsed, chat=answered_as(parsed.chat, events))
    response_id, keep = fmt.new_response_id(events.reply_key), _keeper(access.caller, parsed, events)
    if not parsed.chat.stream:
        response = fmt.whole_response(events, parsed, response_id)
        keep(response)
        return jsonify(response), 200, headers
    return Response(fmt.stream_response(events, parsed, response_id, keep), mimetype="text/event-stream",
                    headers={**headers, **STREAM_HEADERS})


@bp.get("/v1/responses/<response_id>")
def get_response(response_id: str):
    return jsonify(_stored(_access().caller, response_id))


@bp.delete("/v1/responses/<response_id>")
def delete_response(response_id: str):
    if not services().responses.delete(_access().caller, response_id):
        raise _missing(response_id)
    return jsonify({"id": response_id, "object": "response", "deleted": True})


@bp.get("/v1/responses/<response_id>/input_items")
def list_input_items(response_id: str):
    caller = _access().caller
    _stored(caller, response_id)
    items = services().responses.input_items(caller, response_id) or []
    if request.args.get("order", "desc") == "desc":  # OpenAI lists the newest item first by default
        items = items[::-1]
    after = request.args.get("after")
    if after:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    limit = _limit(request.args.get("limit", "20"))
    page = items[:limit]
    return jsonify({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                    "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit})


class _CallerArchive:
    """The archive as the request side sees it: this caller's items and responses only."""

    def __init__(self, caller: str):
        self.caller = caller

    def item(self, item_id: str) -> Optional[dict]:
        return services().responses.item(self.caller, item_id)


def _keeper(caller: str, parsed: fmt.ResponsesRequest, events: Reply) -> fmt.Keep:
    archive = services().responses

    def keep(response: dict) -> None:
        archive.save(caller, response, parsed.input_items, parsed.is_stored)
    return keep


def _access() -> Access:
    return caller_access(bearer(request.headers.get("Authorization")))


def _stored(caller: str, response_id: str) -> dict:
    response = services().responses.response(caller, response_id)
    if response is None:
        raise _missing(response_id)
    return response


def _missing(response_id: str) -> NotFound:
    # Stored responses only: `store: false`, expired (RESPONSES_TTL) and deleted ones are all unknown.
    return NotFound(f"Response with id '{response_id}' not found.", param="response_id")


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIST_LIMIT:
        raise BadRequest(f"`limit` must be an integer from 1 to {MAX_LIST_LIMIT}.", param="limit")
    return int(text)


@bp.errorhandler(KimiError)
def kimi_error(err: KimiError):
    note_error(err)
    return jsonify(openai.error_body(err)), err.status, err.response_headers()
