"""LegacyClient against the fake legacy upstream over real HTTP: chat lifecycle, model flags,
continuation on length, search citations and research quota."""
import pytest

from configs.settings import load_models
from kimi import errors
from kimi.events import ChatRequest, ChatStarted, Citations, Finished, Message, Source, TextDelta
from kimi.legacy.client import K1_KIMIPLUS_ID, LegacyClient
from kimi.legacy.parse import QuotaUsedUp
from kimi.models import ModelTable
from kimi.usage import estimate_tokens
from kimi.transport import Endpoints

pytest_plugins = ["tests.support.legacy_fixtures"]  # legacy (this module's own fake upstream), legacy_client

REFRESH = "rt-client-test-token-01"
MODELS = ModelTable(load_models())


def chat(text="Hello there, Kimi", model="kimi", **kwargs):
    return ChatRequest(model=model, messages=[Message("user", text)], **kwargs)


def run(client, request, **kwargs):
    stream = client.open_chat(request, REFRESH, **kwargs)
    try:
        return stream, list(stream)
    finally:
        stream.close()


def text_of(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_a_temporary_chat_is_created_answered_and_deleted_on_close(legacy, legacy_client):
    stream = legacy_client.open_chat(chat(), REFRESH)
    events = list(stream)
    chat_id = legacy.created_chats[0]
    assert events[0] == ChatStarted(chat_id) and stream.chat_id == chat_id
    assert text_of(events) == "Hello there, Kimi" and events[-1] == Finished("stop")
    assert legacy.deleted_chats == []
    stream.close()
    stream.close()
    assert legacy.deleted_chats == [chat_id]


def test_the_completion_carries_the_web_clients_headers(legacy, legacy_client):
    stream, _ = run(legacy_client, chat())
    request = next(r for r in legacy.requests if r.path.endswith("/completion/stream"))
    assert request.headers["x-traffic-id"] == legacy.users[REFRESH]
    assert request.headers["referer"] == f"{legacy.url}/chat/{stream.chat_id}"
    assert request.headers["x-msh-platform"] == "web" and len(request.headers["x-msh-device-id"]) == 19
    assert request.body["messages"] == [{"role": "user", "content": "Hello there, Kimi"}]
    assert request.body["extend"] == {"sidebar": True} and request.body["refs"] == []


def test_keep_chat_leaves_the_chat_in_place(legacy, legacy_client):
    stream, _ = run(legacy_client, chat(), keep_chat=True)
    assert legacy.created_chats == [stream.chat_id] and legacy.deleted_chats == []


def test_a_given_conversation_id_is_continued_and_kept(legacy, legacy_client):
    first, _ = run(legacy_client, chat(), keep_chat=True)
    history = [Message("user", "Hello there, Kimi"), Message("assistant", "Hello!"), Message("user", "Tell more")]
    stream, events = run(legacy_client, ChatRequest(model="kimi", messages=history, conversation_id=first.chat_id))
    assert events[0] == ChatStarted(first.chat_id) and text_of(events) == "Tell more"
    assert legacy.created_chats == [first.chat_id] and legacy.deleted_chats == []


def test_a_conversation_id_of_the_other_api_is_a_bad_request(legacy, legacy_client):
    with pytest.raises(errors.BadRequest, match="20 letters and digits") as caught:
        legacy_client.open_chat(chat(conversation_id="19b3f0a2-6c1e-8d44-8000-0b7e2a91c5d3"), REFRESH)
    assert caught.value.param == "conversation_id" and legacy.requests == []


@pytest.mark.parametrize("model, search, flags", [
    ("kimi", None, ("kimi", False, False, False)),
    ("kimi-search", None, ("kimi", True, False, False)),
    ("kimi-search", False, ("kimi", False, False, False)),
    ("kimi-silent", None, ("kimi", True, False, False)),
    ("kimi-math", None, ("kimi", False, False, True)),
    ("kimi-research", None, ("kimi", True, True, False)),  # "research" contains "search", as in KFA
    ("kimi-k1", None, (K1_KIMIPLUS_ID, False, False, False)),
    ("cqsar5qnj8t1234abcde", None, ("cqsar5qnj8t1234abcde", False, False, False)),
    ("kimi-k2.5-agent", None, ("kimi", True, False, False)),  # a Connect agent: its search default only
])
def test_model_ids_set_the_completion_flags(legacy, legacy_client, model, search, flags):
    run(legacy_client, chat(model=model, search=search))
    _, body = legacy.completions[0]
    assert (body["kimiplus_id"], body["use_search"], body["use_research"], body["use_math"]) == flags
    created = next(r for r in legacy.requests if (r.method, r.path) == ("POST", "/api/chat"))
    assert created.body["kimiplus_id"] == flags[0] and legacy.chats == {}  # made for that agent, then deleted


def test_an_answer_cut_at_the_length_limit_is_continued_into_one_answer(legacy, legacy_client):
    legacy.length_cut(["First part of the answer. ", "Second part. ", "Third and last."])
    stream, events = run(legacy_client, chat())
    assert text_of(events) == "First part of the answer. Second part. Third and last."
    assert events[-1] == Finished("stop") and sum(isinstance(e, Finished) for e in events) == 1
    continued = [body for _, body in legacy.completions[1:]]
    assert [body["action"] for body in continued] == ["continue", "continue"]
    assert continued[0]["messages"] == [{"role": "user", "content": " "}] and continued[0]["segment_id"]
    assert stream.continuations == 2 and legacy.deleted_chats == [stream.chat_id]


def test_continuation_stops_at_its_limit_with_finish_reason_length(legacy):
    client = LegacyClient(endpoints=Endpoints(legacy_base_url=legacy.url), models=MODELS, max_continuations=1)
    legacy.length_cut(["One. ", "Two. ", "Three."])
    _, events = run(client, chat())
    assert text_of(events) == "One. Two. " and events[-1] == Finished("length")
    assert len(legacy.completions) == 2


def test_search_results_become_citations(legacy, legacy_client):
    legacy.replay("legacy_sse_search.txt")
    _, events = run(legacy_client, chat(model="kimi-search"))
    sources = [s for e in events if isinstance(e, Citations) for s in e.sources]
    assert sources == [
        Source("1", "https://www.example.org/geography/kilimanjaro", "Kilimanjaro: Africa's highest peak"),
        Source("2", "https://travel.example.com/tanzania/uhuru-peak", "Climbing Uhuru Peak")]
    assert text_of(events).endswith("metres[^2^].")


def test_silent_search_models_hide_the_sources(legacy, legacy_client):
    legacy.replay("legacy_sse_search.txt")
    _, events = run(legacy_client, chat(model="kimi-silent-search"))
    assert not any(isinstance(e, Citations) for e in events) and text_of(events).startswith("Mount")


def test_research_checks_the_quota_first(legacy, legacy_client):
    run(legacy_client, chat(model="kimi-research"))
    assert legacy.paths()[2] == "/api/chat/research/usage" and legacy.completions[0][1]["use_research"] is True


def test_a_used_up_research_quota_is_429_with_the_figures(legacy, legacy_client):
    legacy.research_usage = {"remain": 0, "total": 3, "used": 3}
    with pytest.raises(QuotaUsedUp, match=r"research quota is used up: 3 of 3 used, 0 left") as caught:
        legacy_client.open_chat(chat(model="kimi-research"), REFRESH)
    assert caught.value.status == 429 and legacy.created_chats == []


def test_prompt_tokens_are_estimated_from_the_folded_prompt(legacy, legacy_client):
    stream, _ = run(legacy_client, chat("How tall is Kilimanjaro?"))
    assert stream.prompt_tokens == estimate_tokens("How tall is Kilimanjaro?") and stream.unknown_kinds == set()


def test_text_split_inside_multi_byte_characters_arrives_whole(legacy, legacy_client):
    text = "你好，世界！ 🚀 Have a great day 👩‍💻✨（祝你顺利） — café naïve résumé."
    legacy.events([{"event": "cmpl", "text": text[:9]}, {"event": "cmpl", "text": text[9:]}, {"event": "all_done"}],
                split=1)  # every byte in its own HTTP chunk
    _, events = run(legacy_client, chat())
    assert text_of(events) == text
