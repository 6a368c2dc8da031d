"""Legacy SSE events to neutral events (kimi/legacy/parse.py), per fixture (fixtures README section 2)
and per odd case, plus the error_type table."""
import json
from typing import NamedTuple, Optional

import pytest

from kimi import errors
from kimi.events import Citations, Finished, MessageStarted, Source, TextDelta, ThinkingDelta, UpstreamError
from kimi.errors import from_error_type
from kimi.legacy.parse import LegacyParser, QuotaUsedUp
from tests.support.fake_kimi_legacy import load_sse


class Outcome(NamedTuple):
    text: str
    finished: tuple = ()
    sources: tuple = ()
    error: Optional[UpstreamError] = None
    segment_id: str = ""
    message_id: str = ""


def run(events, parser=None):
    parser = parser or LegacyParser()
    out = [e for event in events for e in parser.feed(json.dumps(event, ensure_ascii=False))]
    return parser, out


def outcome(name):
    parser, out = run(load_sse(name))
    errors_seen = [e for e in out if isinstance(e, UpstreamError)]
    return Outcome(text="".join(e.text for e in out if isinstance(e, TextDelta)),
                   finished=tuple(e.reason for e in out if isinstance(e, Finished)),
                   sources=tuple((s.ref_id, s.url, s.title) for e in out if isinstance(e, Citations)
                                 for s in e.sources),
                   error=errors_seen[0] if errors_seen else None, segment_id=parser.segment_id,
                   message_id=next(e.message_id for e in out if isinstance(e, MessageStarted)))


EXPECTED = {
    "legacy_sse_plain.txt": Outcome(
        text="Set up a dedicated workspace and keep it free of distractions.", finished=("stop",),
        segment_id="d3hq7k2m1n4p5r6s7t90", message_id="d3hq7k2m1n4p5r6s7ta0"),
    "legacy_sse_search.txt": Outcome(
        text="Mount Kilimanjaro in Tanzania is the tallest mountain in Africa[^1^]. "
             "Its summit rises about 5,895 metres[^2^].", finished=("stop",),
        sources=(("1", "https://www.example.org/geography/kilimanjaro", "Kilimanjaro: Africa's highest peak"),
                 ("2", "https://travel.example.com/tanzania/uhuru-peak", "Climbing Uhuru Peak")),
        segment_id="d3hq8a1b2c3d4e5f6g80", message_id="d3hq8a1b2c3d4e5f6g8g"),
    "legacy_sse_error.txt": Outcome(
        text="Crisp leaves", error=UpstreamError(code="openai.completion.stream",
                                                 message="Kimi needs a short break. Please ask again later."),
        segment_id="d3hq9c4d5e6f7g8h9i10", message_id="d3hq9c4d5e6f7g8h9i1g"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_outcome(name):
    assert outcome(name) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixtures_use_only_known_event_kinds(name):
    parser, _ = run(load_sse(name))
    assert parser.unknown_kinds == set()


def test_length_marks_the_finish_as_length_and_a_new_segment_resets_it():
    parser, out = run([{"event": "cmpl", "text": "a"}, {"event": "length"}, {"event": "all_done"}])
    assert out[-1] == Finished("length")
    parser.start_segment()
    _, more = run([{"event": "cmpl", "text": "b"}, {"event": "all_done"}], parser)
    assert more[-1] == Finished("stop")


def test_only_the_first_assistant_segment_starts_a_message():
    _, out = run([{"event": "resp", "id": "r1"}, {"event": "resp", "id": "r2"}])
    assert out == [MessageStarted("r1")]


def test_silent_models_search_without_citations():
    parser, out = run(load_sse("legacy_sse_search.txt"), LegacyParser(show_sources=False))
    assert not any(isinstance(e, Citations) for e in out)
    assert "".join(e.text for e in out if isinstance(e, TextDelta)).startswith("Mount Kilimanjaro")


def test_repeated_search_results_are_cited_once():
    hit = {"event": "search_plus", "msg": {"type": "get_res", "url": "https://a.example/", "title": "A"}}
    _, out = run([hit, hit, {"event": "search_plus", "msg": {"type": "start"}}])
    assert out == [Citations((Source(ref_id="1", url="https://a.example/", title="A"),))]


def test_k1_reasoning_becomes_thinking():
    _, out = run([{"event": "k1", "text": "Check 13 × 17."}, {"event": "cmpl", "text": "No."}])
    assert out == [ThinkingDelta("Check 13 × 17."), TextDelta("No.")]


@pytest.mark.parametrize("data, kind", [("not json", "shape:json"), ("[1]", "shape:json"),
                                        ('{"event":"surprise"}', "event:surprise"),
                                        ('{"event":"search_plus","msg":"odd"}', "shape:search_plus")])
def test_odd_payloads_are_recorded_not_raised(data, kind):
    parser = LegacyParser()
    assert parser.feed(data) == []
    assert parser.unknown_kinds == {kind}


def test_an_error_of_odd_shape_is_still_an_error():
    _, out = run([{"event": "error", "error": "boom"}])
    assert out == [UpstreamError(code="", message="boom")]


@pytest.mark.parametrize("error_type, kind, status, words", [
    ("auth.token.invalid", errors.AuthRejected, 401, "no longer valid"),
    ("chat.user_stream_pushing", errors.RateLimited, 429, "still answering an earlier message"),
    ("openai.completion.token_length_too_long", errors.BadRequest, 400, "conversation is too long"),
    ("openai.completion.stream", errors.UpstreamUnavailable, 502, "busy"),
    ("chat.forbidden", errors.PermissionDenied, 403, "content policy"),
    ("something.new", errors.UpstreamUnavailable, 502, "Kimi reported an error: boom"),
])
def test_error_types_map_to_kinds(error_type, kind, status, words):
    err = from_error_type(error_type, "boom")
    assert type(err) is kind and err.status == status and err.code == error_type
    assert words in err.message


def test_stream_pushing_asks_for_a_retry_soon():
    assert from_error_type("chat.user_stream_pushing").response_headers() == {"Retry-After": "5"}


def test_used_up_quota_is_429_without_retries():
    err = QuotaUsedUp("used up", retry_after=None)
    assert err.status == 429 and err.response_headers() == {"x-should-retry": "false"}
