"""The OpenAPI document (configs/openapi.yaml) as served at /openapi.json, and the per-operation view
of it that the docs page renders. Loaded once per process; the YAML is the only copy.
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).resolve().parent.parent / "configs" / "openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """The document as JSON-ready data: YAML anchors copied apart, operationIds made unique."""
    spec = copy.deepcopy(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))
    spec["paths"] = {path: copy.deepcopy(item) for path, item in spec["paths"].items()}
    spec.pop("x-model-security", None)  # only an anchor for the YAML; not part of the document
    seen: set[str] = set()
    for path, method, operation in iter_operations(spec):
        # The /v1 Gemini aliases reuse the /v1beta operations through YAML anchors; OpenAPI wants
        # every operationId unique, so the later copy takes its first path segment as a prefix.
        if operation["operationId"] in seen:
            operation["operationId"] = path.strip("/").split("/")[0] + "_" + operation["operationId"]
        seen.add(operation["operationId"])
    return spec


def iter_operations(spec: dict[str, Any]):
    """(path, method, operation) for every operation, in document order."""
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """`node` with a top-level `$ref` followed (one level; the docs page needs no more)."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations_by_tag(spec: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The docs page's model: one group per tag, each operation with texts in `lang`."""
    groups = [{"name": tag["name"], "description": _text(tag, "description", lang), "operations": []}
              for tag in spec["tags"]]
    by_name = {group["name"]: group for group in groups}
    for path, method, operation in iter_operations(spec):
        by_name[operation["tags"][0]]["operations"].append(_operation(spec, path, method, operation, lang))
    return [group for group in groups if group["operations"]]


def _operation(spec: dict, path: str, method: str, operation: dict, lang: str) -> dict[str, Any]:
    body = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
    responses = {code: resolve(spec, response) for code, response in operation["responses"].items()}
    media = {kind for response in responses.values() for kind in response.get("content", {})}
    return {
        "id": operation["operationId"], "method": method.upper(), "path": path, "tag": operation["tags"][0],
        "summary": _text(operation, "summary", lang), "description": _text(operation, "description", lang),
        "parameters": [_parameter(resolve(spec, p), lang) for p in operation.get("parameters", [])],
        "examples": _examples(body) if body else [],
        "is_streaming": "text/event-stream" in media,
        "is_page": operation["tags"][0] == "Pages",
        "responses": [{"code": code, "description": _text(response, "description", lang)}
                      for code, response in responses.items()],
    }


def _parameter(parameter: dict, lang: str) -> dict[str, Any]:
    return {"name": parameter["name"], "in": parameter["in"], "required": parameter.get("required", False),
            "description": _text(parameter, "description", lang), "example": parameter.get("example", "")}


def _examples(body: dict) -> list[dict[str, str]]:
    """(name, pretty JSON) pairs; the first one prefills the request editor."""
    if "examples" in body:
        pairs = [(name, example["value"]) for name, example in body["examples"].items()]
    else:
        pairs = [("example", body["example"])]
    return [{"name": name, "json": json.dumps(value, ensure_ascii=False, indent=2)} for name, value in pairs]


def _text(node: dict, field: str, lang: str) -> str:
    """A field in the page's language: the Indonesian twin lives in `x-<field>-id`."""
    if lang == "id" and f"x-{field}-id" in node:
        return node[f"x-{field}-id"]
    return node.get(field, "")
