"""The live model catalogue read as public models (kimi/catalogue.py, docs/kimi-protocol.md D.2), the Chat
options a catalogue entry sends, and each format's reasoning field as a neutral effort."""
import json

import pytest

from blueprints.formats import anthropic_request, gemini_request, openai_request, responses_request
from kimi.catalogue import membership_of, read_catalogue
from kimi.connect.client import build_chat_body
from kimi.events import ChatRequest, Message
from tests.support import KIMI_FIXTURES

ANSWER = json.loads((KIMI_FIXTURES / "get_available_models_response.json").read_text())
EFFORTS = ("REASONING_EFFORT_LOW", "REASONING_EFFORT_HIGH", "REASONING_EFFORT_MAX")
K3_IDS = ["kimi-k3", "kimi-k3-low", "kimi-k3-high", "kimi-k3-max"]
SWARM_IDS = ["kimi-k3-swarm", "kimi-k3-swarm-low", "kimi-k3-swarm-high", "kimi-k3-swarm-max"]


def body(model_id, membership="LEVEL_FREE", **asked):
    spec = read_catalogue(ANSWER, membership).specs[model_id]
    return build_chat_body("q", spec, ChatRequest(model_id, [Message("user", "q")], **asked), None)


def test_a_free_account_gets_every_entry_but_the_paid_swarm():
    catalogue = read_catalogue(ANSWER, "LEVEL_FREE")
    assert list(catalogue.specs) == ["kimi-k2.6", "kimi-k2.6-thinking", "kimi-k2.8-preview",
                                     "kimi-k2.8-preview-low", "kimi-k2.8-preview-high", "kimi-k2.8-preview-max",
                                     *K3_IDS]
    assert catalogue.locked == dict.fromkeys(SWARM_IDS, "LEVEL_BASIC")


def test_a_basic_member_gets_the_swarm_too():
    catalogue = read_catalogue(ANSWER, "LEVEL_BASIC")
    assert list(catalogue.specs)[-4:] == SWARM_IDS and catalogue.locked == {}


@pytest.mark.parametrize("claims, level", [
    ({"membership": {"level": "LEVEL_BASIC"}}, "LEVEL_BASIC"),
    ({"membership": {"level": 10}}, "LEVEL_FREE"),  # a level we cannot read counts as free
    ({}, "LEVEL_FREE"), (None, "LEVEL_FREE"),
])
def test_membership_comes_from_the_token_claims(claims, level):
    assert membership_of(claims) == level


def test_k3_sends_its_scenario_entry_id_agent_and_default_effort():
    sent = body("kimi-k3")
    assert (sent["scenario"], sent["message"]["scenario"], sent["kimiplus_id"]) == (
        "SCENARIO_OK_COMPUTER", "SCENARIO_OK_COMPUTER", "ok-computer")
    assert sent["options"] == {"thinking": True, "reasoning_effort": "REASONING_EFFORT_HIGH",
                               "context_length": "CONTEXT_LENGTH_L", "model": "k3-agent"}


def test_k26_instant_follows_the_catalogue_scenario_and_says_no_reasoning_with_none():
    sent = body("kimi-k2.6")
    assert sent["scenario"] == "SCENARIO_CHAT" and "kimiplus_id" not in sent
    assert sent["options"] == {"thinking": True, "reasoning_effort": "REASONING_EFFORT_NONE", "model": "k2d6-chat"}
    assert body("kimi-k2.6-thinking")["options"]["reasoning_effort"] == "REASONING_EFFORT_LOW"


@pytest.mark.parametrize("model_id, asked, effort", [
    ("kimi-k3", {"reasoning_effort": "low"}, "REASONING_EFFORT_LOW"),
    ("kimi-k3", {"reasoning_effort": "medium"}, "REASONING_EFFORT_HIGH"),
    ("kimi-k3", {"reasoning_effort": "max"}, "REASONING_EFFORT_MAX"),
    ("kimi-k3", {"reasoning_effort": "none"}, "REASONING_EFFORT_LOW"),  # K3 always reasons: its least
    ("kimi-k3-max", {}, "REASONING_EFFORT_MAX"),
    ("kimi-k2.6", {"reasoning_effort": "high"}, "REASONING_EFFORT_LOW"),  # Instant's most
    ("kimi-k2.6", {"thinking": True}, "REASONING_EFFORT_LOW"),
    ("kimi-k2.6-thinking", {"thinking": False}, "REASONING_EFFORT_NONE"),
])
def test_a_requested_effort_is_chosen_among_the_entrys_options(model_id, asked, effort):
    assert body(model_id, **asked)["options"]["reasoning_effort"] == effort


def test_extra_long_context_is_sent_only_where_the_account_may_use_it():
    entry = {**ANSWER["availableModels"][2], "defaultContextLength": "CONTEXT_LENGTH_XL"}
    answer = {"availableModels": [entry]}
    assert "context_length" not in body_of(answer, "LEVEL_FREE")["options"]
    assert body_of(answer, "LEVEL_ADVANCED")["options"]["context_length"] == "CONTEXT_LENGTH_XL"


def body_of(answer, membership):
    spec = read_catalogue(answer, membership).specs["kimi-k3"]
    return build_chat_body("q", spec, ChatRequest("kimi-k3", [Message("user", "q")]), None)


USER = [{"role": "user", "content": "q"}]


@pytest.mark.parametrize("parse, request_body, effort", [
    (openai_request.parse_request, {"model": "m", "messages": USER, "reasoning_effort": "minimal"}, "none"),
    (openai_request.parse_request, {"model": "m", "messages": USER, "reasoning_effort": "medium"}, "medium"),
    (openai_request.parse_request, {"model": "m", "messages": USER, "reasoning_effort": "xhigh"}, "max"),
    (openai_request.parse_request, {"model": "m", "messages": USER}, None),
    (lambda b: responses_request.parse_request(b).chat, {"model": "m", "input": "q", "reasoning": {"effort": "low"}},
     "low"),
    (anthropic_request.parse_request, {"model": "m", "max_tokens": 9, "messages": USER,
                                       "thinking": {"type": "enabled", "budget_tokens": 2048}}, "low"),
    (anthropic_request.parse_request, {"model": "m", "max_tokens": 9, "messages": USER,
                                       "thinking": {"type": "enabled", "budget_tokens": 10000}}, "high"),
    (anthropic_request.parse_request, {"model": "m", "max_tokens": 9, "messages": USER,
                                       "thinking": {"type": "enabled", "budget_tokens": 31999}}, "max"),
    (anthropic_request.parse_request, {"model": "m", "max_tokens": 9, "messages": USER,
                                       "thinking": {"type": "disabled"}}, "none"),
    (lambda b: gemini_request.parse_request(b, "m").chat,
     {"contents": [{"parts": [{"text": "q"}]}], "generationConfig": {"thinkingConfig": {"thinkingBudget": 24576}}},
     "max"),
    (lambda b: gemini_request.parse_request(b, "m").chat,
     {"contents": [{"parts": [{"text": "q"}]}], "generationConfig": {"thinkingConfig": {"thinkingBudget": -1}}},
     None),
    (lambda b: gemini_request.parse_request(b, "m").chat,
     {"contents": [{"parts": [{"text": "q"}]}], "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
     "low"),
])
def test_each_formats_reasoning_field_becomes_a_neutral_effort(parse, request_body, effort):
    assert parse(request_body).reasoning_effort == effort
