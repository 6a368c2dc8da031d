"""Agent scenarios (docs/kimi-protocol.md A.5, A.12) and Kimi's own tool use (A.9) shown as thinking: the request
bodies of the agent names, the progress lines kimi/connect/parse.py makes of tool blocks, and both end to end."""
import pytest

from configs.settings import load_models
from kimi.connect.client import build_chat_body
from kimi.events import ChatRequest, Citations, Message, Source, ThinkingDelta
from kimi.connect.frames import Frame
from kimi.models import ModelTable
from kimi.connect.parse import StreamParser

MODELS = ModelTable(load_models())


def body_for(model):
    return build_chat_body("Plan a trip.", MODELS.resolve(model), ChatRequest(model, [Message("user", "x")]), None)


@pytest.mark.parametrize("model, scenario, top, options, tools", [
    ("kimi-k2.5-agent", "SCENARIO_OK_COMPUTER", {"kimiplus_id": "ok-computer", "agentMode": "TYPE_NORMAL"},
     {"thinking": True}, [{"type": "TOOL_TYPE_SEARCH", "search": {}}]),
    ("kimi-k2.5-agent-swarm", "SCENARIO_OK_COMPUTER", {"kimiplus_id": "ok-computer", "agentMode": "TYPE_ULTRA"},
     {"thinking": True}, [{"type": "TOOL_TYPE_SEARCH", "search": {}}, {"type": "TOOL_TYPE_PARALLEL_AGENT_V2"}]),
    ("kimi-k3", "SCENARIO_OK_COMPUTER", {"kimiplus_id": "ok-computer", "agentMode": "TYPE_NORMAL"},
     {"thinking": True, "reasoning_effort": "REASONING_EFFORT_HIGH", "context_length": "CONTEXT_LENGTH_L",
      "model": "k3-agent"},
     [{"type": "TOOL_TYPE_SEARCH", "search": {}}]),
    ("kimi-k2.5-instant", "SCENARIO_K2D5", {}, {"thinking": False}, None),
])
def test_agent_names_send_their_scenario_agent_id_mode_and_options(model, scenario, top, options, tools):
    body = body_for(model)
    assert body["scenario"] == body["message"]["scenario"] == scenario
    assert {key: body[key] for key in ("kimiplus_id", "agentMode") if key in body} == top
    assert body["options"] == options and body.get("tools") == tools


def patch(mask, tool, op="set", block_id="3"):
    return Frame(0, {"op": op, "mask": mask, "block": {"id": block_id, "tool": tool}})


def thinking(events):
    return "".join(event.text for event in events if isinstance(event, ThinkingDelta))


@pytest.mark.parametrize("frames, expected", [
    ([patch("block.tool", {"name": "browser", "args": "", "status": "STATUS_RUNNING"}),
      patch("block.tool.args", {"args": '{"url": "https://a.example'}, op="append"),
      patch("block.tool.args", {"args": '/page"}'}, op="append"),
      patch("block.tool.contents", {"status": "STATUS_DONE", "contents": []})],
     "[browser] https://a.example/page\n[browser done]\n"),
    ([patch("block.tool", {"name": "ipython", "args": '{"code": "1+1", "timeout": 5}'}),
      patch("block.tool.contents", {"status": "STATUS_DONE", "isError": True})],
     '[ipython] {"code": "1+1", "timeout": 5}\n[ipython failed]\n'),
    ([patch("block.tool,block.tool.args", {"name": "shell", "args": "ls -la"}),  # not JSON: shown when done
      patch("block.tool.contents", {"status": "STATUS_DONE", "contents": [{"text": "a.txt"}]})],
     "[shell] ls -la\n[shell done: 1 results]\n"),
    ([Frame(0, {"op": "set", "mask": "block.search.keywords", "block": {"id": "2", "search": {"keywords": ["a", "b"]}}}),
      Frame(0, {"op": "append", "mask": "block.search.keywords", "block": {"id": "2", "search": {"keywords": ["c"]}}})],
     "[search] a; b\n[search] c\n"),
])
def test_kimis_own_tool_use_becomes_progress_lines_of_thinking(frames, expected):
    parser = StreamParser()
    events = [event for frame in frames for event in parser.feed(frame)]
    assert thinking(events) == expected and parser.unknown_kinds == set()


def test_older_search_blocks_give_their_pages_as_sources():
    page = {"title": "Kibo", "url": "https://a.example/kibo", "siteName": "A", "snippet": "Tall."}
    events = StreamParser().feed(Frame(0, {"op": "append", "mask": "block.search.webPages",
                                           "block": {"id": "2", "search": {"webPages": [page]}}}))
    assert events == [Citations((Source("", "https://a.example/kibo", "Kibo", "A", "Tall."),))]


def test_an_agent_answer_streams_its_tool_use_as_reasoning(kimi, openai_client):
    kimi.replay("search_citations.jsonl")
    chunks = list(openai_client.chat.completions.create(
        model="kimi-k2.5-agent", stream=True, messages=[{"role": "user", "content": "Tallest mountain in Africa?"}]))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning == "[web_search] tallest mountain in Africa\n[web_search done: 2 results]\n"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith(
        "Mount Kilimanjaro in Tanzania is the tallest mountain in Africa[^1^].")
    sent = kimi.requests[-1].body
    assert (sent["scenario"], sent["kimiplus_id"], sent["agentMode"]) == ("SCENARIO_OK_COMPUTER", "ok-computer", "TYPE_NORMAL")
