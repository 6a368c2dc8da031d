"""OpenAI-compatible API: /v1/chat/completions and /v1/models."""
from __future__ import annotations

from typing import Optional

from flask import Blueprint, Response, jsonify, request

from blueprints import gemini
from blueprints.callers import is_anthropic_caller, is_google_caller
from blueprints.formats import anthropic
from blueprints.formats import gemini as gemini_format
from blueprints.formats import openai as fmt
from blueprints.request_notes import note_error
from blueprints.upstream import (STREAM_HEADERS, answered_as, conversation_headers, json_body, listed_models,
                                 find_model, open_events, services)
from gateway.access import bearer
from kimi.errors import KimiError, NotFound

bp = Blueprint("openai", __name__)


@bp.post("/v1/chat/completions")
def chat_completions():
    chat = fmt.parse_request(json_body())
    events = open_events(chat, bearer(request.headers.get("Authorization")))
    headers, chat = conversation_headers(events), answered_as(chat, events)
    if not chat.stream:
        return jsonify(fmt.whole_completion(events, chat)), 200, headers
    return Response(fmt.stream_completion(events, chat), mimetype="text/event-stream",
                    headers={**headers, **STREAM_HEADERS})


@bp.get("/v1/models")
def list_models():
    if is_google_caller():  # google-genai without an explicit api_version lists models here
        return gemini.list_models()
    models, created = listed_models(_credential()), services().router.models.created
    if is_anthropic_caller():  # the anthropic SDK and Claude Code list models here too
        return jsonify(anthropic.model_list(models, created))
    return jsonify({"object": "list", "data": [_model(spec.id, created) for spec in models]})


@bp.get("/v1/models/<path:model_id>")
def retrieve_model(model_id: str):
    if is_google_caller():
        return gemini.get_model(model_id)
    spec, created = find_model(_credential(), model_id), services().router.models.created
    if spec is None:
        raise NotFound(f"The model `{model_id}` does not exist.", code="model_not_found", param="model")
    if is_anthropic_caller():
        return jsonify(anthropic.model_info(spec, created))
    return jsonify(_model(model_id, created))


def _credential() -> Optional[str]:
    # The anthropic SDK lists models here with `x-api-key`; everyone else sends a bearer token.
    return request.headers.get("x-api-key") or bearer(request.headers.get("Authorization"))


def _model(model_id: str, created: int) -> dict:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "moonshotai"}


@bp.errorhandler(KimiError)
def kimi_error(err: KimiError):
    note_error(err)
    if is_anthropic_caller():  # the models routes also serve the anthropic SDK
        return jsonify(anthropic.error_body(err)), anthropic.error_status(err), err.response_headers()
    if is_google_caller():  # and the Google ones
        return jsonify(gemini_format.error_body(err)), err.status, err.response_headers()
    return jsonify(fmt.error_body(err)), err.status, err.response_headers()
