"""The OpenAPI document never drifts from the app: every route Flask serves (static files aside) is in
it, every operation in it is served, and every example it shows is answered as documented."""
import copy

import pytest
import requests

from blueprints.formats.json_schema import find_violation
from blueprints.openapi import iter_operations, load_spec

SPEC = load_spec()
OPERATIONS = list(iter_operations(SPEC))
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # answered by Flask and flask-cors for every route
pytestmark = pytest.mark.app(log_level="ERROR")


def inline_refs(node, seen=()):
    """`node` with every $ref replaced by its target, so the schema checker sees whole schemas."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            assert ref not in seen, f"recursive $ref {ref}"
            target = SPEC
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            return inline_refs(copy.deepcopy(target), (*seen, ref))
        return {key: inline_refs(value, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [inline_refs(item, seen) for item in node]
    return node


def sample_path(path: str, operation: dict) -> str:
    """The path with each `{param}` filled with that parameter's example."""
    for parameter in map(inline_refs, operation.get("parameters", [])):
        if parameter["in"] == "path":
            path = path.replace("{%s}" % parameter["name"], str(parameter["example"]))
    assert "{" not in path, f"{path}: a path parameter has no example"
    return path


def first_example(operation: dict):
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if media is None:
        return None
    return next(iter(media["examples"].values()))["value"] if "examples" in media else media["example"]


def test_document_is_openapi_3_1_with_unique_operation_ids_and_known_tags():
    ids = [operation["operationId"] for _, _, operation in OPERATIONS]
    tags = {tag["name"] for tag in SPEC["tags"]}
    assert SPEC["openapi"] == "3.1.0"
    assert len(ids) == len(set(ids))
    assert all(operation["tags"][0] in tags and operation["responses"] for _, _, operation in OPERATIONS)
    inline_refs(SPEC)  # every $ref resolves


def test_every_documented_operation_is_served(app):
    adapter = app.url_map.bind("localhost")
    for path, method, operation in OPERATIONS:
        rule, _ = adapter.match(sample_path(path, operation), method=method.upper(), return_rule=True)
        assert rule.endpoint != "static", path


def test_every_served_route_is_documented(app):
    """The rule: every route except Flask's static files, pages included (tag Pages)."""
    adapter = app.url_map.bind("localhost")
    documented = set()
    for path, method, operation in OPERATIONS:
        rule, _ = adapter.match(sample_path(path, operation), method=method.upper(), return_rule=True)
        documented.add((rule.rule, method.upper()))
    served = {(rule.rule, method) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - IGNORED_METHODS}
    assert served - documented == set()


def test_served_document_is_the_spec(gateway):
    assert requests.get(gateway.url + "/openapi.json", timeout=10).json() == SPEC


@pytest.mark.parametrize("path,method,operation", [
    (path, method, operation) for path, method, operation in OPERATIONS
    if operation.get("requestBody", {}).get("content", {}).get("application/json")
], ids=lambda value: value["operationId"] if isinstance(value, dict) else None)
def test_request_examples_match_their_schema(path, method, operation):
    media = inline_refs(operation["requestBody"]["content"]["application/json"])
    examples = [example["value"] for example in media["examples"].values()] if "examples" in media \
        else [media["example"]]
    for example in examples:
        assert find_violation(example, media["schema"]) is None


def _expected_status(operation: dict) -> str:
    if "x-example-status" in operation:  # an example that names what a fresh gateway cannot hold
        return operation["x-example-status"]
    if operation.get("security") == [{"adminPassword": []}]:
        return "401"  # the test sends no admin password: the documented refusal
    codes = sorted(operation["responses"])
    return next((code for code in codes if code.startswith("2")), codes[0])


@pytest.mark.parametrize("path,method,operation", [
    (path, method, operation) for path, method, operation in OPERATIONS
    if operation["tags"][0] != "Pages" or method == "get"
], ids=lambda value: value["operationId"] if isinstance(value, dict) else None)
def test_example_is_answered_as_documented(gateway, kimi, path, method, operation):
    query = {p["name"]: p["example"] for p in map(inline_refs, operation.get("parameters", []))
             if p["in"] == "query" and "example" in p and p["name"] != "lang"}
    body = first_example(operation)
    response = requests.request(method, gateway.url + sample_path(path, operation), params=query,
                                json=body, timeout=10)
    expected = _expected_status(operation)
    assert str(response.status_code) == expected, response.text
    documented = inline_refs(operation["responses"][expected])
    kind = response.headers["Content-Type"].split(";")[0]
    assert kind in documented["content"]
    if kind == "application/json":
        assert find_violation(response.json(), documented["content"][kind]["schema"]) is None
    else:
        assert response.text
