"""Schemathesis against our own /openapi.json: requests generated from the spec, sent in-process to
the app (with the fake Kimi upstream behind it), never get a 5xx that is not an upstream fault, a
traceback, or an error body in another API's shape."""
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from blueprints.openapi import iter_operations, load_spec


# Generated requests guess the admin password thousands of times: the login throttle would space them out
# (it sleeps, in-process here), so its pacing is off for this app.
pytestmark = pytest.mark.app("served", admin_password="fuzz-admin-password", admin_login_max_delay=0,
                             admin_login_ceiling_per_hour=0)


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


# Upstream faults may answer 5xx (the fake upstream cannot know every generated conversation id);
# 501 is Gemini's documented "not implemented" for embeddings.
ALLOWED_5XX = {501, 502, 504}


def error_shape(path: str, body: dict) -> bool:
    if path.startswith("/v1/messages"):
        return body.get("type") == "error" and {"type", "message"} <= set(body.get("error", {}))
    if path.startswith("/v1beta/") or (path.startswith("/v1/models/") and ":" in path):
        return {"code", "message", "status"} <= set(body.get("error", {}))
    if path.startswith("/v1/"):
        return {"message", "type", "param", "code"} <= set(body.get("error", {}))
    return True  # pages and the auth API have their own error shapes, tested in their own files


def operations():
    # The served document, read without starting an app, so each operation is its own test case.
    # Schemathesis leaves out the operation that serves the schema itself (/openapi.json).
    return [f"{method.upper()} {path}" for path, method, _ in iter_operations(load_spec())
            if path != "/openapi.json"]


@pytest.mark.parametrize("label", operations())
def test_generated_requests_are_answered_in_the_callers_shape(api_schema, label):
    operation = next(r.ok() for r in api_schema.get_all_operations() if r.ok().label == label)

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        _check_answer(case)

    check()


def _check_answer(case):
    response = case.call()
    body = response.content or b""
    assert b"Traceback" not in body
    assert response.status_code < 500 or response.status_code in ALLOWED_5XX, (case.path, response.status_code, body[:300])
    if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
        assert error_shape(case.path, orjson.loads(body)), (case.path, body[:300])
