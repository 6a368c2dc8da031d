"""Frame payloads to neutral events (kimi/connect/parse.py), over the fixtures and the protocol's odd cases."""
from typing import NamedTuple, Optional

import pytest

from kimi.events import (ChatStarted, Citations, Finished, MessageStarted, Source, TextDelta,
                         ThinkingDelta, UpstreamError)
from kimi.connect.frames import Frame, FrameDecoder
from kimi.connect.parse import StreamParser
from tests.support.fixture_streams import build_body, load_frames, stream_names


class Outcome(NamedTuple):
    """What a whole stream amounts to; the table below lists it per fixture (fixtures README)."""

    text: str = ""
    think: str = ""
    chat_ids: tuple = ()  # ids of the ChatStarted events
    message_ids: tuple = ()  # ids of the MessageStarted events
    finished: int = 0  # how many Finished events
    error: Optional[UpstreamError] = None
    sources: tuple = ()  # (ref_id, url) of every cited source, in order


def _outcome(events):
    def of(kind):
        return [event for event in events if isinstance(event, kind)]
    errors = of(UpstreamError)
    assert len(errors) <= 1
    return Outcome(
        text="".join(event.text for event in of(TextDelta)),
        think="".join(event.text for event in of(ThinkingDelta)),
        chat_ids=tuple(event.chat_id for event in of(ChatStarted)),
        message_ids=tuple(event.message_id for event in of(MessageStarted)),
        finished=len(of(Finished)),
        error=errors[0] if errors else None,
        sources=tuple((s.ref_id, s.url) for event in of(Citations) for s in event.sources),
    )


def _feed_all(parser, payloads, flags=0):
    return [event for payload in payloads for event in parser.feed(Frame(flags, payload))]


def _run(name):
    parser = StreamParser()
    frames = [Frame(flags, payload) for flags, payload in load_frames(name)]
    return parser, [event for frame in frames for event in parser.feed(frame)]


PLAIN_CHAT = "19b3f0a2-6c1e-8d44-8000-0b7e2a91c5d3"
UNICODE_TEXT = "你好，世界！ 🚀 Have a great day 👩‍💻✨（祝你顺利） — café naïve résumé."
# exception_*.jsonl: a block.exception retracting the answer (D.4; the busy text is invented).
OVERLOADED_EXCEPTION = UpstreamError("block_exception", "REASON_COMPLETION_OVERLOADED",
                                     "当前使用人数较多，请稍后再试。 (answer withdrawn)")

EXPECTED = {
    "plain_text.jsonl": Outcome(
        text="Set up a dedicated workspace and keep it free of distractions. "
             "A short list of three daily goals also helps.",
        chat_ids=(PLAIN_CHAT,), message_ids=("19b3f0a2-6c53-8b72-8000-2d9e4f6a8b32",), finished=1),
    "thinking.jsonl": Outcome(
        think="The user asks whether 221 is prime. "
              "Check small factors: 221 / 13 = 17, so it is composite.",
        text="No. 221 is not prime because it equals 13 × 17.",
        chat_ids=("19b3f1c7-0a2d-8e15-8000-3a4b5c6d7e8f",),
        message_ids=("19b3f1c7-0a61-8032-8000-5c6d7e8f90a1",), finished=1),
    "search_citations.jsonl": Outcome(
        think="[web_search] tallest mountain in Africa\n[web_search done: 2 results]\n",  # Kimi's own tool use (A.9)
        text="Mount Kilimanjaro in Tanzania is the tallest mountain in Africa[^1^]. "
             "Its summit, Uhuru Peak, rises about 5,895 metres above sea level[^2^].",
        chat_ids=("19b3f2d4-7b3e-8c46-8000-6d7e8f90a1b2",),
        message_ids=("19b3f2d4-7b74-8e68-8000-8f90a1b2c3d4",), finished=1,
        sources=(("1", "https://www.example.org/geography/kilimanjaro"),
                 ("2", "https://travel.example.com/tanzania/uhuru-peak"))),
    "continuation.jsonl": Outcome(
        text="Keep a tidy desk and a three-item goal list.", chat_ids=(PLAIN_CHAT,),
        message_ids=("19b3f0a2-8e05-8da4-8000-ab1c2d3e4f50",), finished=1),
    "heartbeat_interleaved.jsonl": Outcome(
        text="Water boils at 100 °C at sea level.", chat_ids=("19b3f4a6-3d2b-8a8a-8000-ef506172839a",),
        message_ids=("19b3f4a6-3d60-8cac-8000-0172839aabbc",), finished=1),
    "unicode_split.jsonl": Outcome(
        text=UNICODE_TEXT, chat_ids=("19b3f5b7-4e3c-8dbd-8000-12839aabbccd",),
        message_ids=("19b3f5b7-4e71-8fdf-8000-3aabbccddeef",), finished=1),
    "error_unauthenticated.jsonl": Outcome(error=UpstreamError("unauthenticated")),
    "error_resource_exhausted.jsonl": Outcome(error=UpstreamError(
        "resource_exhausted", "REASON_SERVER_OVERLOADED_FOR_FREE_USER",
        "Kimi is busy at the moment. Please try again in a little while.")),
    "error_paywall.jsonl": Outcome(error=UpstreamError(
        "resource_exhausted", "REASON_MEMBERSHIP_REQUIRED",
        "This mode is for members only. Upgrade your plan to continue.", is_paywall=True)),
    "error_after_done.jsonl": Outcome(
        text="Owls can turn their heads", chat_ids=("19b3f3e5-2c1a-8f79-8000-bc2d3e4f5061",),
        message_ids=("19b3f3e5-2c4f-819b-8000-de4f50617283",), finished=1,
        error=UpstreamError("permission_denied", "REASON_ANONYMOUS_REQUIRE_LOGIN",
                            "Please sign in to keep chatting.")),
    # The 2026 shapes (docs/kimi-protocol.md D.4): chat frames without a mask, thinking as stages or as
    # flagged text, `done` with an offset, the <REF> citation form and block.exception.
    "thinking_multistage.jsonl": Outcome(
        think="A year is a leap year when it divides by 4 (with the century rule). 2026 / 4 = 506.5, so no.",
        text="No. 2026 is not a leap year; the next one is 2028.",
        chat_ids=("1a0c6f30-7a12-8d45-8000-3a4b5c6d7e8f",),
        message_ids=("1a0c6f30-7a18-8f67-8000-5c6d7e8f90a1",), finished=1),
    "thinking_text_flags.jsonl": Outcome(
        think="Split the product: 17 × 20 = 340 and 17 × 4 = 68, so the sum is 408.", text="17 × 24 = 408.",
        chat_ids=("1a0c5e21-4b6f-8a10-8000-0d1e2f3a4b5c",),
        message_ids=("1a0c5e21-4b74-8c34-8000-2f3a4b5c6d7e",), finished=1),
    "k3_answer.jsonl": Outcome(
        think="51 = 3 × 17, 57 = 3 × 19; 53, 59 and 61 have no small factors.",
        text="Three primes above 50 are 53, 59 and 61.", chat_ids=("1a0c7a41-2c33-8a78-8000-6d7e8f90a1b2",),
        message_ids=("1a0c7a41-2c39-8c9a-8000-8f90a1b2c3d4",), finished=1),
    "error_free_user_overloaded.jsonl": Outcome(
        chat_ids=("1a0c8b52-9d44-8dab-8000-90a1b2c3d4e5",), error=UpstreamError(
            "resource_exhausted", "REASON_SERVER_OVERLOADED_FOR_FREE_USER",
            "Too many people are chatting with Kimi right now. Subscribe to enter a priority queue!")),
    "search_ref_citations.jsonl": Outcome(
        think="[web_search] Lake Baikal depth\n[web_search done: 2 results]\n",
        text="Lake Baikal is about 1,642 metres deep[^1^], the deepest lake on Earth[^2^].",
        chat_ids=("1a0c9e85-3a77-8a23-8000-d4e5f6a7b8c9",),
        message_ids=("1a0c9e85-3a7c-8b34-8000-e5f6a7b8c9d0",), finished=1,
        sources=(("1", "https://lakes.example.org/baikal"), ("2", "https://www.example.net/deepest-lakes"))),
    "exception_overloaded.jsonl": Outcome(
        chat_ids=("1a0c9c63-1e50-8d00-8000-a1b2c3d4e5f6",),
        message_ids=("1a0c9c63-1e55-8e01-8000-b2c3d4e5f6a7",), finished=1, error=OVERLOADED_EXCEPTION),
    "exception_after_text.jsonl": Outcome(
        text="The moon is a pale lamp", chat_ids=("1a0c9d74-2f60-8e10-8000-b2c3d4e5f6a7",),
        message_ids=("1a0c9d74-2f66-8f12-8000-c3d4e5f6a7b8",), finished=1, error=OVERLOADED_EXCEPTION),
}


def test_every_stream_fixture_has_an_expected_outcome():
    assert sorted(EXPECTED) == stream_names()


@pytest.mark.parametrize("name, expected", EXPECTED.items(), ids=list(EXPECTED))
def test_fixture_stream_gives_expected_events(name, expected):
    parser, events = _run(name)
    assert _outcome(events) == expected
    assert parser.chat_id == (expected.chat_ids[-1] if expected.chat_ids else None)
    assert parser.assistant_message_id == (expected.message_ids[-1] if expected.message_ids else None)
    assert parser.is_finished == bool(expected.finished)
    assert parser.unknown_kinds == set()


def test_events_arrive_in_stream_order():
    _, events = _run("plain_text.jsonl")
    assert events[:3] == [ChatStarted(PLAIN_CHAT),
                          MessageStarted("19b3f0a2-6c53-8b72-8000-2d9e4f6a8b32"), TextDelta("Set up")]
    assert events[-1] == Finished("stop")


def test_chat_name_is_kept_as_the_latest_title():
    assert _run("plain_text.jsonl")[0].chat_name == "Focus tips for remote work"
    assert _run("unicode_split.jsonl")[0].chat_name == "中文问候 🚀"


def test_search_sources_are_emitted_once_with_their_details():
    _, events = _run("search_citations.jsonl")
    citations = [event for event in events if isinstance(event, Citations)]
    assert len(citations) == 1  # tool contents, searchChunks and usedSearchChunks repeat the same two
    assert citations[0].sources[1] == Source(
        ref_id="2", url="https://travel.example.com/tanzania/uhuru-peak", title="Climbing Uhuru Peak",
        site_name="Example Travel",
        snippet="Uhuru Peak, the summit of Kibo, stands at roughly 5,895 metres.")


def test_unicode_fixture_split_at_every_byte_gives_identical_text():
    body = build_body("unicode_split.jsonl")
    for cut in range(len(body) + 1):
        decoder, parser = FrameDecoder(), StreamParser()
        frames = decoder.feed(body[:cut]) + decoder.feed(body[cut:])
        events = [event for frame in frames for event in parser.feed(frame)]
        assert _outcome(events).text == UNICODE_TEXT, f"cut at byte {cut}"


def _text_patch(op, content, kind="text", block_id="1_0", mask=None):
    mask = mask or f"block.{kind}.content"
    return {"op": op, "mask": mask, "block": {"id": block_id, kind: {"content": content}}}


@pytest.mark.parametrize("steps, deltas", [
    ([("set", "Hello"), ("set", "Hello wor"), ("set", "Hello world")], ["Hello", " wor", "ld"]),
    ([("set", "Hello"), ("set", "Bye"), ("append", "!")], ["Hello", "!"]),  # new snapshot: nothing
    ([("set", "Hello"), ("set", "Hel")], ["Hello"]),  # a shorter snapshot cannot retract text
    ([("append", "ab"), ("set", "ab"), ("append", "c")], ["ab", "c"]),  # no empty delta
    ([("set", ""), ("append", ""), ("append", "a")], ["a"]),
    ([("append", "Hi"), ("append", " there"), ("set", "Hi there!")], ["Hi", " there", "!"]),
])
@pytest.mark.parametrize("kind, delta", [("text", TextDelta), ("think", ThinkingDelta)])
def test_set_is_a_snapshot_that_streams_only_its_new_suffix(steps, deltas, kind, delta):
    events = _feed_all(StreamParser(), [_text_patch(op, content, kind) for op, content in steps])
    assert events == [delta(text) for text in deltas]


def test_blocks_keep_separate_content():
    events = _feed_all(StreamParser(), [
        _text_patch("set", "A", block_id="1"), _text_patch("set", "B", block_id="2"),
        _text_patch("set", "AB", block_id="1"), _text_patch("set", "BA", block_id="2")])
    assert events == [TextDelta("A"), TextDelta("B"), TextDelta("B"), TextDelta("A")]


def test_empty_text_object_initialises_a_block():
    patch = {"op": "set", "mask": "block.text.content", "block": {"id": "1_0", "text": {}}}
    events = _feed_all(StreamParser(), [patch, _text_patch("append", "Water")])
    assert events == [TextDelta("Water")]


@pytest.mark.parametrize("payload, events", [
    (_text_patch("append", "x", mask="block.text,block.text.content"), [TextDelta("x")]),  # applied once
    (_text_patch("append", "x", mask="block.text.content, block.foo"), [TextDelta("x")]),
    ({"op": "set", "mask": "chat,message", "chat": {"id": "c1"},
      "message": {"id": "m1", "role": "assistant"}}, [ChatStarted("c1"), MessageStarted("m1")]),
    ({"op": "set", "mask": "message.refs.searchChunks,message.status",
      "message": {"id": "m1", "role": "assistant", "status": "MESSAGE_STATUS_COMPLETED",
                  "refs": {"searchChunks": [{"id": "3", "base": {"url": "https://a.example"}}]}}},
     [Citations((Source("3", "https://a.example"),)), Finished("stop")]),
])
def test_comma_separated_masks_apply_each_path(payload, events):
    assert StreamParser().feed(Frame(0, payload)) == events


@pytest.mark.parametrize("payloads, kinds", [
    ([{"op": "set", "mask": "block.foo", "block": {"id": "1"}}], {"mask:block.foo"}),
    ([{"something": {}}], {"key:something"}),
    ([{"op": "remove", "mask": "block.text", "block": {}}], {"op:remove"}),
    ([_text_patch("append", "x", mask="block.text.content,block.foo")], {"mask:block.foo"}),
    ([{"op": "set", "mask": "block.text", "block": "oops"}], {"shape:block.text"}),
    ([{"op": "append", "mask": "block.tool.args", "block": {"id": "1", "tool": {"args": "{"}}},
      {"op": "set", "mask": "block.search.keywords", "block": {"search": {"keywords": []}}},
      {"op": "set", "mask": "chat.name", "chat": {"name": "t"}}, {"heartbeat": {}}], set()),
])
def test_unknown_kinds_are_recorded_and_produce_no_events(payloads, kinds):
    parser = StreamParser()
    assert [e for e in _feed_all(parser, payloads) if not isinstance(e, TextDelta)] == []
    assert parser.unknown_kinds == kinds


@pytest.mark.parametrize("payloads", [
    [{"done": True}],
    [{"done": {}}, {"done": {}}],
    [{"op": "set", "mask": "message", "message": {"id": "m1", "role": "assistant"}},
     {"op": "set", "mask": "message.status",
      "message": {"id": "m1", "status": "MESSAGE_STATUS_COMPLETED"}},
     {"done": {}}],
])
def test_finished_is_emitted_once_per_stream(payloads):
    parser = StreamParser()
    assert [e for e in _feed_all(parser, payloads) if isinstance(e, Finished)] == [Finished("stop")]
    assert parser.is_finished


def test_done_in_the_end_stream_frame_finishes():
    assert StreamParser().feed(Frame(2, {"done": {}})) == [Finished("stop")]


@pytest.mark.parametrize("status", [
    {"id": "other", "status": "MESSAGE_STATUS_COMPLETED"},  # no role and not the assistant's id
    {"id": "u1", "role": "user", "status": "MESSAGE_STATUS_COMPLETED"},
    {"id": "m1", "role": "assistant", "status": "MESSAGE_STATUS_GENERATING"},
])
def test_status_of_other_messages_does_not_finish(status):
    parser = StreamParser()
    _feed_all(parser, [{"op": "set", "mask": "message", "message": {"id": "m1", "role": "assistant"}},
                       {"op": "set", "mask": "message.status", "message": status}])
    assert not parser.is_finished


def test_chat_started_once_even_when_lastrequest_repeats_the_id():
    chat = {"op": "set", "mask": "chat.lastRequest", "chat": {"id": "c1"}}
    assert _feed_all(StreamParser(), [chat, chat, {**chat, "mask": "chat"}]) == [ChatStarted("c1")]


def test_wrapped_and_flat_sources_are_deduplicated_by_id_and_url():
    flat = {"id": "1", "base": {"title": "T", "url": "https://a.example"}, "refIndex": "web_search:1#0"}
    wrapped = {"searchResult": flat}
    other = {"searchResult": {"id": "2", "base": {"url": "https://b.example"}}}
    events = _feed_all(StreamParser(), [
        {"op": "set", "mask": "message.refs.searchChunks",
         "message": {"refs": {"searchChunks": [wrapped]}}},
        {"op": "set", "mask": "message.refs.usedSearchChunks",
         "message": {"refs": {"usedSearchChunks": [flat, other]}}}])
    assert events == [Citations((Source("1", "https://a.example", "T"),)),
                      Citations((Source("2", "https://b.example"),))]


@pytest.mark.parametrize("flags, error, expected", [
    (2, {"code": "internal", "message": "boom"}, UpstreamError("internal", message="boom")),
    (0, {"code": "unavailable"}, UpstreamError("unavailable")),
    (2, {"code": "resource_exhausted", "message": "plain",
         "details": [{"type": "x"},
                     {"debug": {"reason": "R", "localizedMessage": {"message": "nice"}}}]},
     UpstreamError("resource_exhausted", "R", "nice")),
    (2, {"code": "resource_exhausted", "details": [{"debug": {"paywall": {}}}]},
     UpstreamError("resource_exhausted", is_paywall=True)),
    (2, "broken", UpstreamError("")),
])
def test_error_objects_become_upstream_errors(flags, error, expected):
    assert StreamParser().feed(Frame(flags, {"error": error})) == [expected]


def test_notifications_are_recorded_not_emitted():
    parser = StreamParser()
    notice = {"type": "TYPE_MODEL_DEGRADE", "message": "busy"}
    assert parser.feed(Frame(0, {"notification": notice})) == []
    assert parser.notifications == [notice] and parser.unknown_kinds == set()


@pytest.mark.parametrize("mask, block", [
    ("block.text.content", {"id": "1_0", "text": {"content": "Hi"}}),
    ("block.think.content", {"id": "1_0", "think": {"content": "Hm"}}),
    ("block.text.content", {"id": "1_0", "text": {"content": ""}}),
    ("block.text.content", {"id": "1_0", "text": {}}),
    ("block.text.content", {"id": "1_0", "text": None}),
    ("block.text.content", {"id": "1_0", "text": "oops"}),
    ("block.text.content", {"id": "1_0", "text": {"content": 5}}),
    ("block.text.content", {"id": "1_0", "think": {"content": "other kind"}}),
    ("block.text.content", {"text": {"content": "no id"}}),
    ("block.text.content", {"id": 7, "text": {"content": "int id"}}),
    ("block.text.content", {"id": ["x"], "text": {"content": "unhashable id"}}),
    ("block.text.content", "oops"),
    ("block.text.content", None),
    ("block.tool.contents", {"id": "1_0", "tool": {"contents": []}}),
])
def test_append_short_path_gives_what_the_general_path_gives(mask, block):
    # With `eventOffset` the payload has the usual four keys and takes feed()'s short path; without, it does not.
    short, general = StreamParser(), StreamParser()
    payload = {"op": "append", "mask": mask, "block": block}
    events = _feed_all(short, [{**payload, "eventOffset": 9}, {**payload, "eventOffset": 10}])
    assert events == _feed_all(general, [payload, payload])
    assert short.unknown_kinds == general.unknown_kinds


def test_long_blocks_keep_their_whole_text_for_later_snapshots():
    parser = StreamParser()
    _feed_all(parser, [_text_patch("append", f"{i} ") for i in range(200)]
              + [{**_text_patch("append", "x"), "eventOffset": 1}])  # the short path too
    text = "".join(f"{i} " for i in range(200)) + "x"
    assert _feed_all(parser, [_text_patch("set", text + "!")]) == [TextDelta("!")]


def test_a_part_that_is_not_text_does_not_break_a_long_block():
    parser = StreamParser()
    events = _feed_all(parser, [_text_patch("append", 5)] + [_text_patch("append", "a")] * 70
                       + [{**_text_patch("append", "b"), "eventOffset": 1}])
    assert events[-1] == TextDelta("b") and len(events) == 72
