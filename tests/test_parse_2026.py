"""The 2026 frame shapes (docs/kimi-protocol.md D.4) through kimi/connect/parse.py: exact events per fixture,
the stream cut at every byte, and each variant the sources disagree on."""
import pytest

from kimi import errors
from kimi.connect.frames import Frame, FrameDecoder
from kimi.connect.parse import StreamParser
from kimi.events import (ChatStarted, Citations, Finished, MessageStarted, Source, TextDelta, ThinkingDelta,
                         UpstreamError, WebSearch)
from tests.support.fixture_streams import build_body, load_frames

LEAP_CHAT, LEAP_ANSWER = "1a0c6f30-7a12-8d45-8000-3a4b5c6d7e8f", "1a0c6f30-7a18-8f67-8000-5c6d7e8f90a1"
FLAGS_CHAT, FLAGS_ANSWER = "1a0c5e21-4b6f-8a10-8000-0d1e2f3a4b5c", "1a0c5e21-4b74-8c34-8000-2f3a4b5c6d7e"
BAIKAL = (Source("1", "https://lakes.example.org/baikal", "Lake Baikal facts", "Example",
                 "Baikal reaches 1,642 metres at its deepest point."),
          Source("2", "https://www.example.net/deepest-lakes", "Deepest lakes", "Example",
                 "It is the deepest lake on Earth."))
RETRACTED = UpstreamError("block_exception", "REASON_COMPLETION_OVERLOADED", "当前使用人数较多，请稍后再试。 (answer withdrawn)")

EXACT = {
    "thinking_multistage.jsonl": [
        ChatStarted(LEAP_CHAT), MessageStarted(LEAP_ANSWER),
        ThinkingDelta("A year is a leap year"), ThinkingDelta(" when it divides by 4"),
        ThinkingDelta(" (with the century rule)."), ThinkingDelta(" 2026 / 4 = 506.5, so no."),
        TextDelta("No."), TextDelta(" 2026 is not"), TextDelta(" a leap year;"), TextDelta(" the next one is 2028."),
        Finished("stop")],
    "thinking_text_flags.jsonl": [
        ChatStarted(FLAGS_CHAT), MessageStarted(FLAGS_ANSWER),
        ThinkingDelta("Split the product:"), ThinkingDelta(" 17 × 20 = 340"), ThinkingDelta(" and 17 × 4 = 68,"),
        ThinkingDelta(" so the sum is 408."), TextDelta("17 × 24"), TextDelta(" = 408."), Finished("stop")],
    "search_ref_citations.jsonl": [
        ChatStarted("1a0c9e85-3a77-8a23-8000-d4e5f6a7b8c9"), MessageStarted("1a0c9e85-3a7c-8b34-8000-e5f6a7b8c9d0"),
        ThinkingDelta("[web_search] Lake Baikal depth\n"), WebSearch("web_search:0", ("Lake Baikal depth",)),
        Citations(BAIKAL), ThinkingDelta("[web_search done: 2 results]\n"), TextDelta("Lake Baikal is about 1,642 metres deep"),
        TextDelta("[^1^], the deepest lake on Earth"), TextDelta("[^2^]."), Finished("stop")],
    "exception_after_text.jsonl": [
        ChatStarted("1a0c9d74-2f60-8e10-8000-b2c3d4e5f6a7"), MessageStarted("1a0c9d74-2f66-8f12-8000-c3d4e5f6a7b8"),
        TextDelta("The moon is"), TextDelta(" a pale lamp"), RETRACTED, Finished("stop")],
}


def _feed_all(parser, payloads):
    return [event for payload in payloads for event in parser.feed(Frame(0, payload))]


def _texts(events):
    return ("".join(e.text for e in events if isinstance(e, ThinkingDelta)),
            "".join(e.text for e in events if isinstance(e, TextDelta)))


def _summary(events, unknown_kinds=()):
    """What a cut must not change: the reasoning, the answer, the errors and the unknown kinds."""
    return _texts(events) + ([e for e in events if isinstance(e, UpstreamError)], set(unknown_kinds))


@pytest.mark.parametrize("name", EXACT)
def test_fixture_gives_exactly_these_events(name):
    parser = StreamParser()
    assert _feed_all(parser, [payload for _, payload in load_frames(name)]) == EXACT[name]
    assert parser.unknown_kinds == set()


@pytest.mark.parametrize("name", EXACT)
def test_fixture_cut_at_every_byte_gives_the_same_outcome(name):
    body, expected = build_body(name), _summary(EXACT[name])
    for cut in range(len(body) + 1):
        decoder, parser = FrameDecoder(), StreamParser()
        frames = decoder.feed(body[:cut]) + decoder.feed(body[cut:])
        events = [event for frame in frames for event in parser.feed(frame)]
        assert _summary(events, parser.unknown_kinds) == expected, f"cut at byte {cut}"


ASSISTANT = {"op": "set", "message": {"id": "m1", "role": "assistant"}}


@pytest.mark.parametrize("payloads, events", [
    ([{"op": "set", "chat": {"id": "c1", "name": "Untitled Chat"}}], [ChatStarted("c1")]),
    ([{"op": "set", "eventOffset": 3, "message": {"id": "c1", "role": "system"}}, ASSISTANT],
     [MessageStarted("m1")]),  # the system message is not the assistant's
    ([{"op": "append", "block": {"id": "1", "messageId": "m1", "text": {"content": "Hi"}}}], [TextDelta("Hi")]),
    ([ASSISTANT, {"eventOffset": 13, "done": {}}], [MessageStarted("m1"), Finished("stop")]),
    ([{"op": "set", "mask": {"paths": ["chat", "message"]}, "chat": {"id": "c1"},
       "message": {"id": "m1", "role": "assistant"}}], [ChatStarted("c1"), MessageStarted("m1")]),
    ([{"op": "append", "mask": {"paths": ["block.text.content"]}, "block": {"id": "1", "text": {"content": "x"}}}],
     [TextDelta("x")]),
])
def test_frames_without_a_mask_or_with_an_object_mask_are_read(payloads, events):
    parser = StreamParser()
    assert _feed_all(parser, payloads) == events
    assert parser.unknown_kinds == set()


@pytest.mark.parametrize("payload, kinds", [
    ({"op": "set", "block": {"id": "9", "hologram": {}}}, {"mask:block.hologram"}),
    ({"op": "remove", "chat": {"id": "c1"}}, {"op:remove"}),
    ({"op": "set", "mask": {"paths": "chat"}, "chat": {"id": "c1"}}, {"shape:mask"}),
    ({"op": "append", "mask": "chat.files", "chat": {"files": [{"id": "f1"}]}}, set()),  # documented, unused
])
def test_odd_2026_frames_are_recorded_not_emitted(payload, kinds):
    parser = StreamParser()
    assert parser.feed(Frame(0, payload)) == []
    assert parser.unknown_kinds == kinds


def _stage(status, block_id="0", mask="block.multiStage"):
    if mask == "block.stage":
        return {"op": "set", "mask": mask, "block": {"id": block_id, "stage": {"name": "STAGE_NAME_THINKING",
                                                                                "status": status}}}
    return {"op": "set", "mask": mask, "block": {"id": block_id, "multiStage": {"stages": [
        {"name": "STAGE_NAME_THINKING", "status": status}]}}}


def _text(content, block_id="5", parent=None, op="set", flags=None):
    text = {"content": content} if flags is None else {"content": content, "flags": flags}
    block = {"id": block_id, "text": text} if parent is None else {"id": block_id, "parentId": parent, "text": text}
    return {"op": op, "mask": "block.text" if op == "set" else "block.text.content", "block": block}


@pytest.mark.parametrize("end", ["STAGE_STATUS_END", "STAGE_STATUS_DONE", "STAGE_STATUS_COMPLETED", "completed",
                                 "STAGE_STATUS_CANCELLED"])
def test_text_set_under_an_open_thinking_stage_is_reasoning_until_the_stage_ends(end):
    events = _feed_all(StreamParser(), [
        _stage("STAGE_STATUS_START"), _text("Let me", parent="0"), _text(" think", op="append"),
        _text("Let me think.", parent="0"), _stage(end), _text("Answer.", block_id="6", parent="")])
    assert events == [ThinkingDelta("Let me"), ThinkingDelta(" think"), ThinkingDelta("."), TextDelta("Answer.")]


def test_a_stage_block_under_the_multistage_holds_reasoning_too():
    events = _feed_all(StreamParser(), [
        _stage("STAGE_STATUS_START"), _stage(None, block_id="1", mask="block.stage"), _text("Hm", parent="1"),
        _stage("STAGE_STATUS_END"), _text("Yes.", block_id="6", parent="")])
    assert events == [ThinkingDelta("Hm"), TextDelta("Yes.")]


@pytest.mark.parametrize("steps, events", [
    # The one lineage's bare frames: no op, no ids (D.4).
    ([{"mask": "block.text", "block": {"text": {"content": "Hm", "flags": "thinking"}}},
      {"mask": "block.text", "block": {"text": {"content": "Hm. Ok", "flags": "thinking"}}},
      {"mask": "block.text", "block": {"id": "2", "text": {"content": "Yes", "flags": "answer"}}}],
     [ThinkingDelta("Hm"), ThinkingDelta(". Ok"), TextDelta("Yes")]),
    # An append without flags follows its block; a frame's own flag wins.
    ([_text("a", flags="thinking"), _text("b", op="append"), _text("c", op="append", flags="answer")],
     [ThinkingDelta("a"), ThinkingDelta("b"), TextDelta("c")]),
])
def test_text_flagged_thinking_is_reasoning(steps, events):
    assert _feed_all(StreamParser(), steps) == events


@pytest.mark.parametrize("exception, error", [
    ({"error": {"reason": "REASON_COMPLETION_OVERLOADED", "severity": "SEVERITY_BLOCK_RETRACT"}},
     UpstreamError("block_exception", "REASON_COMPLETION_OVERLOADED", "(answer withdrawn)")),
    ({"error": {"reason": "REASON_SOMETHING_NEW", "localizedMessage": {"message": "Oops"}}},
     UpstreamError("block_exception", "REASON_SOMETHING_NEW", "Oops")),
    ({"reason": "REASON_X", "message": "flat"}, UpstreamError("block_exception", "REASON_X", "flat")),
    ("broken", UpstreamError("block_exception")),  # never lose a failure to an odd shape
    ({"error": "broken"}, UpstreamError("block_exception")),
])
def test_block_exception_becomes_an_upstream_error(exception, error):
    payload = {"op": "set", "mask": "block.exception", "block": {"id": "1", "exception": exception}}
    assert StreamParser().feed(Frame(0, payload)) == [error]


@pytest.mark.parametrize("reason, kind, status", [
    ("REASON_COMPLETION_OVERLOADED", errors.Overloaded, 429),
    ("REASON_SOMETHING_NEW", errors.UpstreamUnavailable, 502),
])
def test_block_exception_maps_to_a_kimi_error(reason, kind, status):
    err = errors.from_upstream_error(UpstreamError("block_exception", reason, "busy"))
    assert type(err) is kind and err.status == status and err.message == "Kimi: busy"


FETCH_MARK = "<REF>cite✦tools://fetch_urls:2#0:~:text=q</REF>"


@pytest.mark.parametrize("pieces, texts", [
    (["See<REF>cite✦tools://web_search:1#2:~:text=x</REF>."], ["See[^3^]."]),
    (["a <", "b"], ["a ", "<b"]),  # a "<" that may open a marker waits for the next delta
    (["x<R", "EF>cite✦tools://web_search:1#0</REF>"], ["x", "[^1^]"]),
    ([FETCH_MARK[:20], FETCH_MARK[20:] + " ok"], [FETCH_MARK + " ok"]),  # no source id to point at: as written
    (["<REF>no tar", "get</REF>"], ["<REF>no target</REF>"]),
    (["cut <REF>cite✦tools://web_search:1#0"], ["cut ", "<REF>cite✦tools://web_search:1#0"]),  # sent at done
])
def test_ref_citation_markers_become_the_markers_sources_are_numbered_by(pieces, texts):
    events = _feed_all(StreamParser(), [_text(piece, op="append") for piece in pieces] + [{"done": {}}])
    assert events == [TextDelta(text) for text in texts] + [Finished("stop")]
