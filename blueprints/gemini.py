"""Google Gemini API: /v1beta/models (list, get) and models/{model}:{method} under /v1beta, /v1 and no
version at all (generateContent, streamGenerateContent, countTokens; embeddings answer 501). GET
/v1/models answers Google callers from here too (blueprints/openai.py asks blueprints/callers.py)."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from blueprints.formats import gemini as fmt
from blueprints.request_notes import note_error
from blueprints.upstream import (STREAM_HEADERS, answered_as, conversation_headers, find_model, json_body,
                                 listed_models, open_events)
from gateway.access import bearer
from kimi.errors import KimiError, NotFound, Unimplemented
from kimi.models import ModelSpec

bp = Blueprint("gemini", __name__)

# Kimi K2.5's context window; the web chat has no output cap of its own (maxOutputTokens is ours).
INPUT_TOKEN_LIMIT, OUTPUT_TOKEN_LIMIT = 262144, 32768


@bp.get("/v1beta/models")
@bp.get("/models")
def list_models():
    return jsonify({"models": [_model(spec) for spec in listed_models(_credential())]})


@bp.get("/v1beta/models/<path:model_id>")
@bp.get("/models/<path:model_id>")
def get_model(model_id: str):
    spec = find_model(_credential(), model_id)
    if spec is None:
        raise NotFound(f"Model `models/{model_id}` is not found.", code="model_not_found", param="model")
    return jsonify(_model(spec))


# One rule per prefix: `<model>:<method>` shares its path with GET /v1/models/<id> (OpenAI's), and
# Werkzeug matches the path before the method, so POST must land on a rule of the same shape.
@bp.post("/v1beta/models/<path:model_action>")
@bp.post("/v1/models/<path:model_action>")
@bp.post("/models/<path:model_action>")
def call_model(model_action: str):
    model, _, method = model_action.rpartition(":")
    if not model:
        raise MethodNotAllowed(valid_methods=["GET"])
    operation = OPERATIONS.get(method)
    if operation is None:
        raise NotFound(f"Method `{method}` is not found for models/{model}.", code="method_not_found")
    return operation(model)


def generate_content(model: str):
    gemini = fmt.parse_request(json_body(), model)
    events = open_events(gemini.chat, _credential())
    gemini = replace(gemini, chat=answered_as(gemini.chat, events))
    return jsonify(fmt.whole_response(events, gemini)), 200, conversation_headers(events)


def stream_generate_content(model: str):
    gemini = fmt.parse_request(json_body(), model, stream=True)
    events = open_events(gemini.chat, _credential())
    gemini = replace(gemini, chat=answered_as(gemini.chat, events))
    headers = {**conversation_headers(events), **STREAM_HEADERS}
    if request.args.get("alt") == "sse":
        return Response(fmt.stream_sse(events, gemini), mimetype="text/event-stream", headers=headers)
    return Response(fmt.stream_array(events, gemini), mimetype="application/json", headers=headers)


def count_tokens(model: str):
    return jsonify(fmt.count_tokens(json_body()))


def embed_content(model: str):
    raise Unimplemented("Embeddings are not available: Kimi's web chat offers no embedding model.",
                        code="embeddings_unsupported")


OPERATIONS = {"generateContent": generate_content, "streamGenerateContent": stream_generate_content,
              "countTokens": count_tokens, "embedContent": embed_content, "batchEmbedContents": embed_content}


def _credential() -> Optional[str]:
    """The caller's key: x-goog-api-key, then ?key=, then a Bearer token; an empty one means none."""
    return (request.headers.get("x-goog-api-key", "").strip() or request.args.get("key", "").strip()
            or bearer(request.headers.get("Authorization")))


def _model(spec: ModelSpec) -> dict:
    return {"name": f"models/{spec.id}", "version": "001", "displayName": spec.id,
            "description": spec.description, "inputTokenLimit": INPUT_TOKEN_LIMIT,
            "outputTokenLimit": OUTPUT_TOKEN_LIMIT,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
            "thinking": spec.thinking}


@bp.errorhandler(KimiError)
def kimi_error(err: KimiError):
    note_error(err)
    return jsonify(fmt.error_body(err)), err.status, err.response_headers()
