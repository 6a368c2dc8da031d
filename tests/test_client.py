"""kimi/connect/client.py against the fake Kimi over real sockets: what is sent and how HTTP faults map to errors."""
import socket

import pytest

from kimi import errors
from kimi.connect.client import KimiClient, build_chat_body
from kimi.events import ChatRequest, ChatStarted, Finished, Message, TextDelta
from kimi.connect.frames import FrameDecoder
from kimi.models import ModelTable
from kimi.transport import Endpoints
from configs.settings import load_models
from tests.support.fixture_streams import build_body
from tests.support.jwts import make_jwt

TOKEN = make_jwt(sub="clientclientclientcl")
MODELS = ModelTable(load_models())
PLAIN_TEXT = "Set up a dedicated workspace and keep it free of distractions. A short list of three daily goals also helps."


def chat(model="kimi-k2.5-instant", **kwargs):
    return ChatRequest(model=model, messages=[Message("user", "Hello")], **kwargs)


def a_client(base_url, read_timeout=120):
    return KimiClient(endpoints=Endpoints(base_url=base_url), models=MODELS, read_timeout=read_timeout)


@pytest.fixture
def real_client(kimi):
    """A client of the fake upstream over a real socket: the chunked body is read off the connection."""
    kimi_client = a_client(kimi.url)
    yield kimi_client
    kimi_client.session.close()


def test_open_chat_sends_one_envelope_and_yields_events(kimi, real_client):
    kimi.replay("plain_text.jsonl")
    stream = real_client.open_chat(chat(), TOKEN)
    events = list(stream)
    sent = FrameDecoder().feed(kimi.requests[0].raw)
    assert len(sent) == 1 and sent[0].flags == 0
    assert sent[0].payload["message"]["blocks"] == [{"message_id": "", "text": {"content": "Hello"}}]
    assert events[0] == ChatStarted("19b3f0a2-6c1e-8d44-8000-0b7e2a91c5d3")
    assert isinstance(events[-1], Finished) and sum(isinstance(e, TextDelta) for e in events) > 3
    assert stream.chat_id == "19b3f0a2-6c1e-8d44-8000-0b7e2a91c5d3"


def test_each_call_carries_the_callers_headers_and_its_own_request_id(kimi, real_client):
    for _ in range(2):
        list(real_client.open_chat(chat(), TOKEN))
    first, second = (request.headers for request in kimi.requests)
    assert first["Authorization"] == second["Authorization"] == f"Bearer {TOKEN}"
    assert first["X-Traffic-Id"] == "clientclientclientcl" and first["Content-Type"] == "application/connect+json"
    assert len(first["X-Request-Id"]) == 32 and first["X-Request-Id"] != second["X-Request-Id"]


@pytest.mark.parametrize("status, kind", [(401, errors.AuthRejected), (403, errors.PermissionDenied),
                                          (429, errors.RateLimited), (500, errors.UpstreamUnavailable),
                                          (503, errors.UpstreamUnavailable), (504, errors.UpstreamTimeout)])
def test_http_errors_map_to_kinds(kimi, real_client, status, kind):
    kimi.http_error(status, body=b'{"code":"x","message":"nope"}')
    with pytest.raises(kind):
        real_client.open_chat(chat(), TOKEN)


def test_connection_failure_is_upstream_unavailable():
    with socket.socket() as unused:  # a port nothing listens on once this closes
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(errors.UpstreamUnavailable) as caught:
        a_client(f"http://127.0.0.1:{port}").open_chat(chat(), TOKEN)
    assert caught.value.code == "upstream_unreachable"


def test_timeout_is_upstream_timeout(kimi):
    kimi.hang(seconds=5)
    with pytest.raises(errors.UpstreamTimeout):
        a_client(kimi.url, read_timeout=0.2).open_chat(chat(), TOKEN)


@pytest.mark.parametrize("fixture, kind", [("error_unauthenticated.jsonl", errors.AuthRejected),
                                           ("error_resource_exhausted.jsonl", errors.Overloaded),
                                           ("error_paywall.jsonl", errors.PaymentRequired)])
def test_error_in_a_200_stream_raises_before_any_content(kimi, real_client, fixture, kind):
    kimi.replay(fixture)
    with pytest.raises(kind):
        real_client.open_chat(chat(), TOKEN)


def test_error_after_done_fails_the_stream(kimi, real_client):
    kimi.replay("error_after_done.jsonl")
    stream = real_client.open_chat(chat(), TOKEN)
    with pytest.raises(errors.AuthRejected, match="Please sign in"):
        list(stream)


def test_body_without_trailer_or_done_is_truncated(kimi, real_client):
    body = build_body("plain_text.jsonl")
    kimi.raw(body[: len(body) // 2])
    stream = real_client.open_chat(chat(), TOKEN)
    with pytest.raises(errors.ProtocolError):
        list(stream)


@pytest.mark.parametrize("token, message", [(make_jwt(expires_in=-60), "expired"),
                                            (make_jwt(typ="refresh"), "not a Kimi access token"),
                                            ("sk-123", "not a Kimi access token")])
def test_unusable_tokens_are_rejected_before_sending(kimi, real_client, token, message):
    with pytest.raises(errors.AuthRejected, match=message):
        real_client.open_chat(chat(), token)
    assert kimi.requests == []


@pytest.mark.parametrize("token", [make_jwt(expires_in=-60), "sk-123"])
def test_an_unusable_token_is_told_the_2026_way_to_a_good_one_first(real_client, token):
    with pytest.raises(errors.AuthRejected) as caught:
        real_client.open_chat(chat(), token)
    advice = caught.value.message
    assert "DevTools → Application → Local Storage → https://www.kimi.com and copy `access_token`" in advice
    assert advice.index("access_token") < advice.index("kimi-auth") and "/auth page, which renews itself" in advice


def test_chat_body_for_search_and_agent_models():
    search = build_chat_body("q", MODELS.resolve("kimi-search"), chat("kimi-search"), None)
    assert search["tools"] == [{"type": "TOOL_TYPE_SEARCH", "search": {"force": True}}]
    agent = build_chat_body("q", MODELS.resolve("kimi-k2.5-agent"), chat("kimi-k2.5-agent"), None)
    assert agent["scenario"] == "SCENARIO_OK_COMPUTER" and agent["kimiplus_id"] == "ok-computer"
    plain = build_chat_body("q", MODELS.resolve("kimi-latest"), chat(thinking=True), None)
    assert plain["options"] == {"thinking": True} and "tools" not in plain and "chat_id" not in plain


def test_chat_body_for_continuation_names_chat_and_parent():
    body = build_chat_body("q", MODELS.resolve("kimi-latest"), chat(conversation_id="c-1"), "m-9")
    assert body["chat_id"] == "c-1" and body["message"]["parent_id"] == "m-9"


def test_events_of_one_read_are_pending_until_the_last_one_is_taken(kimi, real_client):
    kimi.replay("plain_text.jsonl", split=100_000)  # the whole body in one HTTP chunk: one read
    stream = real_client.open_chat(chat(), TOKEN)
    seen = []
    for event in stream:
        seen.append((event, stream.has_pending))
    assert all(pending for _, pending in seen[:-1])
    assert seen[-1] == (Finished("stop"), False)


def test_events_read_before_an_error_are_delivered_before_it_raises(kimi, real_client):
    kimi.replay("error_after_done.jsonl")
    stream = real_client.open_chat(chat(), TOKEN)
    texts = []
    with pytest.raises(errors.AuthRejected, match="Please sign in"):
        for event in stream:
            texts.append(event.text if isinstance(event, TextDelta) else "")
    assert "".join(texts) == "Owls can turn their heads"


@pytest.mark.parametrize("split", [None, 1, 7, 100_000])
def test_chunked_body_over_a_real_socket_gives_the_fixture_text(kimi, real_client, split):
    kimi.replay("plain_text.jsonl", split=split)  # None: one HTTP chunk per frame
    events = list(real_client.open_chat(chat(), TOKEN))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == PLAIN_TEXT
    assert events[-1] == Finished("stop") and sum(isinstance(e, Finished) for e in events) == 1


def test_chunked_body_cut_mid_frame_is_upstream_disconnected(kimi, real_client):
    kimi.cut(after_frames=6)
    stream = real_client.open_chat(chat(), TOKEN)
    with pytest.raises(errors.UpstreamUnavailable) as caught:
        list(stream)
    assert caught.value.code == "upstream_disconnected"
