"""Self-tests of tests/support/fake_kimi.py over real HTTP, so integration tests can trust the fake upstream."""

import json
import struct

import pytest
import requests

from tests.support.fake_kimi import FakeKimi
from tests.support.fixture_streams import build_body, load_frames

CHAT = "/apiv2/kimi.gateway.chat.v1.ChatService/Chat"
DELETE_CHAT = "/apiv2/kimi.chat.v1.ChatService/DeleteChat"
AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture(scope="module")
def server():
    # An instance of its own rather than conftest's session one, so start() and stop() are covered too.
    with FakeKimi() as fake:
        yield fake


@pytest.fixture
def kimi(server):  # shadows conftest's `kimi` for this module
    server.reset()
    yield server
    server.reset()  # ends any hang or long answer the test left behind
    assert server.wait_for(lambda: server.open_streams == 0)


def envelope(payload, flags=0):
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return bytes([flags]) + struct.pack(">I", len(data)) + data


def decode(body):
    frames = []
    while body:
        size = struct.unpack(">I", body[1:5])[0]
        frames.append((body[0], json.loads(body[5:5 + size])))
        body = body[5 + size:]
    return frames


def chat_body(prompt, chat_id=None, parent_id=None, thinking=False):
    message = {"role": "user", "blocks": [{"message_id": "", "text": {"content": prompt}}]}
    body = {"scenario": "SCENARIO_K2D5", "message": message, "options": {"thinking": thinking}}
    if chat_id:
        body["chat_id"], message["parent_id"] = chat_id, parent_id
    return envelope(body)


def post(kimi, data, headers=AUTH, **kwargs):
    return requests.post(kimi.url + CHAT, data=data, headers=headers, stream=True, **kwargs)


def chat(kimi, data, headers=AUTH):
    with post(kimi, data, headers) as response:
        return decode(response.content)


def text_of(frames, kind="text"):
    masks = {"block." + kind, f"block.{kind}.content"}
    return "".join(p["block"][kind]["content"] for _, p in frames if p.get("mask") in masks)


def assistant_id(frames):
    return next(p["message"]["id"] for _, p in frames if p.get("message", {}).get("role") == "assistant")


def test_echo_sends_one_chunk_per_frame_and_text_equals_prompt(kimi):
    prompt = "Tell me, in a handful of words, why the sky looks blue at noon?  Thanks!"
    with post(kimi, chat_body(prompt)) as response:
        chunks = list(response.raw.read_chunked())
    frames = [decode(chunk)[0] for chunk in chunks]
    assert response.headers["Content-Type"] == "application/connect+json"
    assert [p.get("mask") or next(iter(p), "") for _, p in frames] == [
        "heartbeat", "chat", "message", "message", "block.text", "block.text.content", "block.text.content",
        "block.text.content", "block.text.content", "message.status", "done", ""]
    assert text_of(frames) == prompt
    assert frames[-1] == (2, {})


def test_echo_with_thinking_streams_think_block_before_text(kimi):
    frames = chat(kimi, chat_body("Is 221 prime?", thinking=True))
    masks = [p.get("mask") for _, p in frames]
    assert masks.index("block.think") < masks.index("block.text")
    assert text_of(frames, "think") == "Thinking about: Is 221 prime?"
    assert text_of(frames) == "Is 221 prime?"


def test_continuation_with_matching_parent_id_is_remembered(kimi):
    first = chat(kimi, chat_body("Hello"))
    chat_id, parent = first[1][1]["chat"]["id"], assistant_id(first)
    second = chat(kimi, chat_body("Again", chat_id, parent))
    assert second[1][1] == {"op": "set", "mask": "chat.lastRequest", "eventOffset": 1,
                            "chat": {"id": chat_id}}
    assert text_of(second) == "Again"
    assert kimi.chats[chat_id] == [
        {"user_text": "Hello", "parent_id": None, "assistant_id": parent},
        {"user_text": "Again", "parent_id": parent, "assistant_id": assistant_id(second)}]


def test_continuation_with_wrong_parent_id_gets_error_trailer(kimi):
    chat_id = chat(kimi, chat_body("Hello"))[1][1]["chat"]["id"]
    frames = chat(kimi, chat_body("Again", chat_id, "not-the-last-answer"))
    assert frames == [(2, {"error": {"code": "invalid_argument", "message": "parent_id does not match"}})]


def test_unknown_chat_id_gets_not_found_trailer(kimi):
    frames = chat(kimi, chat_body("Again", "no-such-chat", "x"))
    assert frames == [(2, {"error": {"code": "not_found", "message": "chat not found"}})]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer revoked"}])
def test_missing_or_rejected_token_gets_unauthenticated_trailer(kimi, headers):
    kimi.rejected_tokens.add("revoked")
    with post(kimi, chat_body("Hello"), headers) as response:
        assert response.status_code == 200
        assert decode(response.content) == [(2, {"error": {"code": "unauthenticated"}})]


def test_unframed_body_gets_invalid_argument_trailer(kimi):
    frames = chat(kimi, b'{"message": {}}')
    assert frames[0][0] == 2 and frames[0][1]["error"]["code"] == "invalid_argument"


def test_replay_split_sends_the_same_bytes_as_unsplit(kimi):
    kimi.replay("unicode_split.jsonl").replay("unicode_split.jsonl", split=7)
    with post(kimi, chat_body("x")) as whole, post(kimi, chat_body("x")) as split:
        body, pieces = whole.content, list(split.raw.read_chunked())
    assert b"".join(pieces) == body and {len(piece) for piece in pieces[:-1]} == {7}
    assert body == build_body("unicode_split.jsonl")


def test_scripted_behaviours_run_in_order_then_echo(kimi):
    kimi.frames([(0, {"heartbeat": {}}), (2, {})]).http_error(503, b"busy", "text/plain")
    assert chat(kimi, chat_body("a")) == [(0, {"heartbeat": {}}), (2, {})]
    with post(kimi, chat_body("b")) as response:
        seen = (response.status_code, response.headers["Content-Type"], response.content)
    assert seen == (503, "text/plain", b"busy")
    assert text_of(chat(kimi, chat_body("c"))) == "c"


def test_cut_closes_the_connection_mid_frame(kimi):
    kimi.cut(after_frames=3)
    received = bytearray()
    with post(kimi, chat_body("x")) as response:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for chunk in response.iter_content(None):
                received += chunk
    envelopes = [envelope(payload, flags) for flags, payload in load_frames("plain_text.jsonl")]
    assert received == b"".join(envelopes[:3]) + envelopes[3][:len(envelopes[3]) // 2]


def test_hang_times_out_the_client_until_reset_releases_it(kimi):
    kimi.hang(seconds=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(kimi, chat_body("x"), timeout=0.5)
    assert kimi.open_streams == 1
    kimi.reset()
    assert kimi.wait_for(lambda: kimi.open_streams == 0, timeout=2)


def test_open_streams_returns_to_zero_when_client_leaves_a_long_answer(kimi):
    kimi.long_answer(n_frames=1000, delay=0.01)
    with post(kimi, chat_body("x")) as response:
        next(response.iter_content(None))
        assert kimi.open_streams == 1
    assert kimi.wait_for(lambda: kimi.open_streams == 0)
    assert kimi.max_open_streams == 1


def test_delete_chat_is_counted_and_forgets_the_chat(kimi):
    chat_id = chat(kimi, chat_body("Hello"))[1][1]["chat"]["id"]
    response = requests.post(kimi.url + DELETE_CHAT, json={"chat_id": chat_id})
    assert (response.status_code, response.json()) == (200, {})
    assert kimi.deleted_chats == [chat_id] and chat_id not in kimi.chats


def test_requests_are_recorded_and_unknown_paths_get_404(kimi):
    response = requests.post(kimi.url + "/apiv2/nope", json={})
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    with requests.post(kimi.url + "/apiv2/kimi.chat.v1.ChatService/Chat", chat_body("Hello"), headers=AUTH):
        pass  # the older package path answers too (docs/kimi-protocol.md A.1)
    recorded = kimi.requests[-1]
    assert recorded.headers["authorization"] == AUTH["Authorization"]
    assert recorded.body["message"]["blocks"][0]["text"]["content"] == "Hello"
