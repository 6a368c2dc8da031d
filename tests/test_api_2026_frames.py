"""The 2026 frame shapes end to end (docs/kimi-protocol.md D.4): the fake Kimi replays them to the gateway
running as production runs it, and the wire each API writes is pinned byte for byte where it matters."""
import orjson
import pytest
import requests

from tests.support.fixture_streams import load_frames
from tests.support.waiting import wait_until

USER = [{"role": "user", "content": "hi"}]
BUSY = "Kimi: 当前使用人数较多，请稍后再试。 (answer withdrawn)"
UNKNOWN_METRIC = "kimi_gateway_unknown_upstream_frames_total"


def post_openai(gateway, token, body):
    return requests.post(gateway.url + "/v1/chat/completions", timeout=15, json=body,
                         headers={"Authorization": f"Bearer {token}"})


def post_anthropic(gateway, token, body):
    return requests.post(gateway.url + "/v1/messages", timeout=15, json=body,
                         headers={"x-api-key": token, "anthropic-version": "2023-06-01"})


def openai_data(response):
    """The `data:` payloads of an OpenAI stream, `[DONE]` kept as text."""
    events = response.content.decode().split("\n\n")
    assert events[-1] == "" and all(event.startswith("data: ") for event in events[:-1])
    return [event[6:] if event == "data: [DONE]" else orjson.loads(event[6:]) for event in events[:-1]]


def anthropic_frames(response):
    """(event name, data) pairs of an Anthropic stream."""
    frames = response.content.decode().split("\n\n")
    assert frames[-1] == ""
    return [(frame.split("\n")[0][7:], orjson.loads(frame.split("\n")[1][6:])) for frame in frames[:-1]]


def unknown_total(gateway):
    """The sum of every kind's sample of the unknown-frame counter on /metrics."""
    lines = requests.get(gateway.url + "/metrics", timeout=5).text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(UNKNOWN_METRIC + "{"))


def as_text_under_the_stage(frames):
    """thinking_multistage.jsonl with its reasoning sent as text under the thinking stage (D.4, shape 4)."""
    return [(flags, orjson.loads(orjson.dumps(payload).replace(b"think", b"text"))) for flags, payload in frames]


def reasoning(*pieces):
    return [{"reasoning_content": piece} for piece in pieces]


def content(*pieces):
    return [{"content": piece} for piece in pieces]


LEAP_DELTAS = (reasoning("A year is a leap year", " when it divides by 4", " (with the century rule).",
                         " 2026 / 4 = 506.5, so no.")
               + content("No.", " 2026 is not", " a leap year;", " the next one is 2028."))


@pytest.mark.parametrize("frames, chat_id, deltas", [
    (load_frames("thinking_multistage.jsonl"), "1a0c6f30-7a12-8d45-8000-3a4b5c6d7e8f", LEAP_DELTAS),
    (as_text_under_the_stage(load_frames("thinking_multistage.jsonl")), "1a0c6f30-7a12-8d45-8000-3a4b5c6d7e8f",
     LEAP_DELTAS),
    (load_frames("thinking_text_flags.jsonl"), "1a0c5e21-4b6f-8a10-8000-0d1e2f3a4b5c",
     reasoning("Split the product:", " 17 × 20 = 340", " and 17 × 4 = 68,", " so the sum is 408.")
     + content("17 × 24", " = 408.")),
], ids=["multistage", "text-under-stage", "text-flags"])
def test_2026_thinking_streams_as_reasoning_then_content(kimi, gateway, user_token, frames, chat_id, deltas):
    unknown_before = unknown_total(gateway)
    kimi.frames(frames)
    response = post_openai(gateway, user_token, {"model": "kimi-k2.5-thinking", "stream": True, "messages": USER})
    data = openai_data(response)
    assert response.status_code == 200 and data[-1] == "[DONE]"
    assert len({chunk["id"] for chunk in data[:-1]}) == 1 and response.headers["X-Conversation-Id"] == chat_id
    assert [chunk["choices"][0]["delta"] for chunk in data[1:-2]] == deltas
    assert data[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert unknown_total(gateway) == unknown_before  # block.stage and block.multiStage are known kinds


def test_block_exception_before_content_is_429_with_retry_after_in_openai_shape(kimi, gateway, user_token):
    kimi.replay("exception_overloaded.jsonl")
    response = post_openai(gateway, user_token, {"model": "kimi-latest", "stream": True, "messages": USER})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.json() == {"error": {"message": BUSY, "type": "rate_limit_error", "param": None,
                                          "code": "block_exception"}}


def test_block_exception_before_content_is_anthropics_overload_status_with_retry_after(kimi, gateway, user_token):
    kimi.replay("exception_overloaded.jsonl")
    response = post_anthropic(gateway, user_token, {"model": "claude-sonnet-4-6", "max_tokens": 100,
                                                    "stream": True, "messages": USER})
    # Every Kimi overload is Anthropic's own "overloaded" status, 529, which its SDK retries (A.11).
    assert response.status_code == 529 and int(response.headers["Retry-After"]) > 0
    assert response.json() == {"type": "error", "error": {"type": "overloaded_error", "message": BUSY}}


def test_block_exception_after_text_ends_the_openai_stream_with_an_error_chunk(kimi, gateway, user_token):
    kimi.replay("exception_after_text.jsonl")
    response = post_openai(gateway, user_token, {"model": "kimi-latest", "stream": True, "messages": USER})
    data = openai_data(response)
    assert response.status_code == 200
    assert [chunk["choices"][0]["delta"] for chunk in data[:3]] == [
        {"role": "assistant"}, {"content": "The moon is"}, {"content": " a pale lamp"}]
    assert data[3:] == [{"error": {"message": BUSY, "type": "rate_limit_error", "param": None,
                                   "code": "block_exception"}}, "[DONE]"]


def test_block_exception_after_text_ends_the_anthropic_stream_with_an_error_event(kimi, gateway, user_token):
    kimi.replay("exception_after_text.jsonl")
    response = post_anthropic(gateway, user_token, {"model": "claude-sonnet-4-6", "max_tokens": 100,
                                                    "stream": True, "messages": USER})
    frames = anthropic_frames(response)
    assert response.status_code == 200
    assert [data["delta"]["text"] for name, data in frames if name == "content_block_delta"] == [
        "The moon is", " a pale lamp"]
    assert "message_stop" not in [name for name, _ in frames]
    assert frames[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error", "message": BUSY}})
    assert b"\n\nevent: error\ndata: " in response.content


def test_block_exception_after_text_without_stream_is_the_http_error(kimi, gateway, user_token):
    kimi.replay("exception_after_text.jsonl")
    response = post_openai(gateway, user_token, {"model": "kimi-latest", "messages": USER})
    assert response.status_code == 429 and response.json()["error"]["message"] == BUSY


def test_2026_fixtures_add_no_unknown_frame_kinds(kimi, gateway, user_token):
    before = unknown_total(gateway)
    for name in ("thinking_multistage.jsonl", "thinking_text_flags.jsonl", "k3_answer.jsonl",
                 "search_ref_citations.jsonl"):
        kimi.replay(name)
        assert post_openai(gateway, user_token, {"model": "kimi-latest", "messages": USER}).status_code == 200
    assert unknown_total(gateway) == before


def test_unknown_block_kind_in_a_maskless_frame_is_counted_and_logged_once(kimi, gateway, user_token):
    label = 'kind="mask:block.sparkle"'
    before = requests.get(gateway.url + "/metrics", timeout=5).text.count(label)
    frames = load_frames("thinking_multistage.jsonl")
    odd = (0, {"op": "set", "eventOffset": 7, "block": {"id": "8", "sparkle": {"level": 3}}})
    for _ in range(2):
        kimi.frames(frames[:7] + [odd] + frames[7:])
        assert post_openai(gateway, user_token, {"model": "kimi-latest", "messages": USER}).status_code == 200
    metric = f"{UNKNOWN_METRIC}{{{label}}} 2.0"
    assert before == 0 and wait_until(lambda: metric in requests.get(gateway.url + "/metrics", timeout=5).text)
    notes = [line for line in gateway.log_text().splitlines() if "does not know: mask:block.sparkle" in line]
    assert len(notes) == 1
