"""The request log's "copy as cURL" (blueprints/curl.py): the exact command per API, a placeholder for the
key in the header that API's SDKs send, and the logged body only when body logging kept one."""
import os
import subprocess

import pytest

from blueprints.curl import render_curl
from gateway.usage import RequestEntry

BASE = "https://gw.example"


def entry(api, path, **fields):
    return RequestEntry(at=0, request_id="r", method="POST", path=path, api=api, key_id="k1", key_label="ci",
                        account="a1", status=200, **fields)


COMMANDS = [
    (entry("openai", "/v1/chat/completions", model_asked="kimi-k2.5-thinking", stream=True),
     "curl -sS -N -X POST https://gw.example/v1/chat/completions \\\n"
     '  -H "Authorization: Bearer $KIMI_GATEWAY_KEY" \\\n'
     "  -H 'Content-Type: application/json' \\\n"
     """  --data-raw '{"model":"kimi-k2.5-thinking","messages":[{"role":"user","content":"Hello"}],"stream":true}'"""),
    (entry("responses", "/v1/responses", model_asked="kimi-k3"),
     "curl -sS -N -X POST https://gw.example/v1/responses \\\n"
     '  -H "Authorization: Bearer $KIMI_GATEWAY_KEY" \\\n'
     "  -H 'Content-Type: application/json' \\\n"
     """  --data-raw '{"model":"kimi-k3","input":"Hello"}'"""),
    (entry("anthropic", "/v1/messages", model_asked="claude-sonnet-4-5", stream=True),
     "curl -sS -N -X POST https://gw.example/v1/messages \\\n"
     '  -H "x-api-key: $KIMI_GATEWAY_KEY" \\\n'
     "  -H 'anthropic-version: 2023-06-01' \\\n"
     "  -H 'Content-Type: application/json' \\\n"
     """  --data-raw '{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hello"}],"""
     """"stream":true}'"""),
    (entry("anthropic", "/v1/messages/count_tokens", model_asked="kimi-k2.5-instant"),
     "curl -sS -N -X POST https://gw.example/v1/messages/count_tokens \\\n"
     '  -H "x-api-key: $KIMI_GATEWAY_KEY" \\\n'
     "  -H 'anthropic-version: 2023-06-01' \\\n"
     "  -H 'Content-Type: application/json' \\\n"
     """  --data-raw '{"model":"kimi-k2.5-instant","messages":[{"role":"user","content":"Hello"}]}'"""),
    (entry("gemini", "/v1beta/models/gemini-2.5-pro:streamGenerateContent", model_asked="gemini-2.5-pro", stream=True),
     "curl -sS -N -X POST https://gw.example/v1beta/models/gemini-2.5-pro:streamGenerateContent \\\n"
     '  -H "x-goog-api-key: $KIMI_GATEWAY_KEY" \\\n'
     "  -H 'Content-Type: application/json' \\\n"
     """  --data-raw '{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}'"""),
]


@pytest.mark.parametrize("logged,command", COMMANDS)
def test_a_minimal_body_per_api_with_the_logged_model(logged, command):
    assert render_curl(logged, BASE, fallback_model="kimi-k2.5-instant") == command


def test_the_logged_body_is_sent_as_received_and_quoted_for_the_shell():
    body = '{"model":"m","messages":[{"role":"user","content":"it\'s $HOME"}]}'
    command = render_curl(entry("openai", "/v1/chat/completions", body=body), BASE + "/", "d")
    assert command.endswith("""--data-raw '{"model":"m","messages":[{"role":"user","content":"it'"'"'s $HOME"}]}'""")
    # The shell hands curl the body unchanged: the quote survives and $HOME is not expanded.
    echoed = subprocess.run(["bash", "-c", command.replace("curl -sS -N", "printf '%s\\n'", 1)],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert echoed[-1] == body


def test_an_entry_without_a_model_gets_the_fallback_and_a_get_has_no_body():
    assert '"model":"kimi-k2.5-instant"' in render_curl(entry("openai", "/v1/chat/completions"), BASE,
                                                        "kimi-k2.5-instant")
    listing = RequestEntry(at=0, request_id="r", method="GET", path="/v1/models", api="openai", key_id="k1",
                           key_label="ci", account="", status=200)
    assert render_curl(listing, BASE, "d") == ("curl -sS -N -X GET https://gw.example/v1/models \\\n"
                                              '  -H "Authorization: Bearer $KIMI_GATEWAY_KEY"')


# What each answer holds once served (spaces taken out): a stream's last event, a whole body's field.
ANSWERED = {"/v1/chat/completions": "data:[DONE]", "/v1/responses": '"status":"completed"',
            "/v1/messages": "event:message_stop", "/v1/messages/count_tokens": '"input_tokens"',
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent": '"finishReason":"STOP"'}


@pytest.mark.parametrize("logged", [logged for logged, _ in COMMANDS], ids=lambda logged: logged.path)
def test_each_copied_command_runs_against_a_real_gateway_with_a_key_in_the_variable(logged, gateway, kimi, user_token):
    kimi.replay("plain_text.jsonl")
    command = render_curl(logged, gateway.url, "kimi-k2.5-instant") + " -w '\\n%{http_code}'"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "KIMI_GATEWAY_KEY": user_token})
    body, _, status = done.stdout.rpartition("\n")
    assert (done.returncode, status) == (0, "200"), done.stdout[-500:] + done.stderr[-500:]
    assert ANSWERED[logged.path] in body.replace(" ", "")
