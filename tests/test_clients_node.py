"""Third-party node clients end to end, offline: openai-node, @anthropic-ai/sdk, @google/genai and the
Vercel AI SDK (pinned in package.json) each run tests/support/clients/<script>.mjs against the gateway on
the scripted fake Kimi, and the test reads what the client parsed: a text, a streamed text, a tool call
round trip, and a second turn that continues the Kimi chat."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support import ROOT
from tests.support.client_kimi import (AFTER_TOOL, GREETING, NAME_ANSWER, NAME_QUESTION, TOOL, TOOL_ARGUMENTS,
                                       TOOL_RESULT)

pytest_plugins = ["tests.support.client_stage"]

SCRIPTS = ROOT / "tests" / "support" / "clients"
RUN_SECONDS = 60  # a script takes a second or two; the bound only keeps a hung client from hanging CI
CALL = {"name": TOOL, "arguments": TOOL_ARGUMENTS, "then": AFTER_TOOL}
STREAM = {"text": GREETING, "chunks": 6}  # the fake sends the greeting in six pieces
# The AI SDK runs the tool itself: step one ends in the call, step two is the text after its result.
AI_SDK = {"stream": STREAM, "tool": {**CALL, "steps": 2}}


def play(stage, token: str, argv: tuple[str, ...]) -> dict:
    """Runs one client script (and its arguments) against the stage; what it printed, parsed."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "GATEWAY_URL": stage.gateway.url, "GATEWAY_KEY": token}
    done = subprocess.run(["node", str(SCRIPTS / argv[0]), *argv[1:]], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=RUN_SECONDS, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("argv, expected", [
    (("openai_node.mjs",), {"stream": STREAM, "tool": {"finish_reason": "tool_calls", **CALL}}),
    (("anthropic_sdk.mjs",), {"stream": {**STREAM, "final": GREETING}, "tool": {"stop_reason": "tool_use", **CALL}}),
    (("google_genai.mjs",), {"stream": STREAM, "tool": CALL}),
    (("ai_sdk.mjs", "openai-chat"), AI_SDK),
    (("ai_sdk.mjs", "openai-responses"), AI_SDK),
    (("ai_sdk.mjs", "anthropic"), AI_SDK),
    (("ai_sdk.mjs", "google"), AI_SDK),
    (("ai_sdk.mjs", "openai-compatible"), AI_SDK),
], ids=["openai-node", "anthropic-sdk", "google-genai", "ai-sdk-openai-chat", "ai-sdk-openai-responses",
        "ai-sdk-anthropic", "ai-sdk-google", "ai-sdk-openai-compatible"])
def test_client_reads_text_stream_tool_call_and_continues_the_chat(stage, user_token, argv, expected):
    parsed = play(stage, user_token, argv)
    assert parsed == {"text": GREETING, **expected, "second_turn": NAME_ANSWER}
    # The tool result and the second turn went into the chat that asked for them, as the new message only.
    assert stage.kimi.continued_turns() == [TOOL_RESULT, NAME_QUESTION]
