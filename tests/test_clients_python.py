"""Third-party Python clients end to end, offline: LangChain (langchain-openai with and without
use_responses_api, langchain-anthropic) with a LangGraph ReAct agent, and LiteLLM with its openai/,
anthropic/ and gemini/ prefixes (pinned in requirements-dev.txt). Each runs tests/support/clients/<module>.py
in a process of its own, so its import-time globals (LiteLLM's callbacks and price map, LangSmith's
settings) stay out of the test process; every request but the gateway's goes to a refusing proxy."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import ROOT
from tests.support.agent_scripts import RefusingProxy
from tests.support.client_kimi import (AFTER_TOOL, GREETING, NAME_ANSWER, NAME_QUESTION, TOOL, TOOL_ARGUMENTS,
                                       TOOL_RESULT)

pytest_plugins = ["tests.support.client_stage"]

RUN_SECONDS = 90  # a run takes a few seconds (imports included); the bound only keeps a hung client from hanging CI
PIECES = ["Hello f", "rom Kim", "i throu", "gh the ", "gateway", "."]  # the greeting as the fake streams it
# Documented switches: no LangSmith tracing; LiteLLM's bundled price map instead of fetching it.
QUIET = {"LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
LANGCHAIN = {"text": GREETING, "stream": PIECES,
             "tool": {"name": TOOL, "arguments": TOOL_ARGUMENTS, "then": AFTER_TOOL}, "second_turn": NAME_ANSWER,
             # The agent's state keeps the call, its result and the answer: each AI message has its own id.
             "agent": {"kinds": ["human", "ai", "tool", "ai"], "tool_calls": [TOOL], "tool_output": TOOL_RESULT,
                       "then": AFTER_TOOL, "ai_ids_distinct": True}}
LITELLM = {"text": GREETING, "stream": PIECES,
           "tool": {"finish_reason": "tool_calls", "name": TOOL, "arguments": json.dumps(TOOL_ARGUMENTS),
                    "then": AFTER_TOOL}, "second_turn": NAME_ANSWER}


@pytest.fixture(scope="module")
def refusing_proxy():
    with RefusingProxy() as proxy:
        yield proxy


def play(stage, proxy: RefusingProxy, token: str, module: str, variant: str) -> dict:
    """Runs one client module against the stage; what it printed, parsed."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **QUIET, **proxy.environ(),
           "GATEWAY_URL": stage.gateway.url, "GATEWAY_KEY": token}
    done = subprocess.run([sys.executable, "-m", f"tests.support.clients.{module}", variant], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=RUN_SECONDS, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("module, variant, expected, continued", [
    ("langchain_clients", "openai-chat", LANGCHAIN, 3),
    ("langchain_clients", "openai-responses", LANGCHAIN, 3),
    ("langchain_clients", "anthropic", LANGCHAIN, 3),
    ("litellm_client", "openai", LITELLM, 2),
    ("litellm_client", "anthropic", LITELLM, 2),
    ("litellm_client", "gemini", LITELLM, 2),
], ids=["langchain-openai", "langchain-openai-responses", "langchain-anthropic", "litellm-openai",
        "litellm-anthropic", "litellm-gemini"])
def test_client_reads_text_stream_tool_call_and_continues_the_chat(stage, refusing_proxy, user_token, module,
                                                                  variant, expected, continued):
    refusing_proxy.asked.clear()
    assert play(stage, refusing_proxy, user_token, module, variant) == expected
    # The tool results and the second turn went into the chat that asked for them, as the new message only
    # (the agent's own tool round trip is the third continued turn of a LangChain run).
    assert stage.kimi.continued_turns() == [TOOL_RESULT, NAME_QUESTION, TOOL_RESULT][:continued]
    assert refusing_proxy.asked == []  # nothing but the gateway: no tracing, telemetry or price map fetch
