"""One small request in each of the four API formats, sent through Flask's test client, and each format's
error shape read back: tests of a refusal that every API must answer in its own words use these."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

MESSAGES = [{"role": "user", "content": "halo"}]


@dataclass(frozen=True)
class ApiFormat:
    name: str
    path: Callable[[str], str]
    body: Callable[[str], dict]
    key_header: str
    error_type: Callable[[dict], str]  # the error's kind in this API's words (type or status)

    def call(self, client, key: str = "", model: str = "kimi-k2.5-instant"):
        headers = {self.key_header: (f"Bearer {key}" if self.key_header == "Authorization" else key)} if key else {}
        if self.name == "anthropic":
            headers["anthropic-version"] = "2023-06-01"
        return client.post(self.path(model), json=self.body(model), headers=headers)


FORMATS = {
    "openai": ApiFormat("openai", lambda model: "/v1/chat/completions",
                        lambda model: {"model": model, "messages": MESSAGES}, "Authorization",
                        lambda body: body["error"]["type"]),
    "responses": ApiFormat("responses", lambda model: "/v1/responses",
                           lambda model: {"model": model, "input": "halo"}, "Authorization",
                           lambda body: body["error"]["type"]),
    "anthropic": ApiFormat("anthropic", lambda model: "/v1/messages",
                           lambda model: {"model": model, "max_tokens": 50, "messages": MESSAGES}, "x-api-key",
                           lambda body: body["type"] + ":" + body["error"]["type"]),
    "gemini": ApiFormat("gemini", lambda model: f"/v1beta/models/{model}:generateContent",
                        lambda model: {"contents": [{"parts": [{"text": "halo"}]}]}, "x-goog-api-key",
                        lambda body: body["error"]["status"]),
}

# The kind each API names a status with, as its own SDKs expect.
ERROR_TYPES = {
    401: {"openai": "authentication_error", "responses": "authentication_error",
          "anthropic": "error:authentication_error", "gemini": "UNAUTHENTICATED"},
    403: {"openai": "permission_error", "responses": "permission_error",
          "anthropic": "error:permission_error", "gemini": "PERMISSION_DENIED"},
    429: {"openai": "rate_limit_error", "responses": "rate_limit_error",
          "anthropic": "error:rate_limit_error", "gemini": "RESOURCE_EXHAUSTED"},
}


def error_message(body: dict[str, Any]) -> str:
    return body["error"]["message"]
