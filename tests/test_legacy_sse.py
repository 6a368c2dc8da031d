"""The legacy SSE decoder (kimi/sse.py): fixture bodies cut at every byte, multi-byte
characters split across chunks, and the odd shapes a text/event-stream may take."""
import json

import pytest

from kimi.errors import ProtocolError
from kimi.sse import SSEDecoder
from tests.support.fake_kimi_legacy import FIXTURES

LEGACY_FIXTURES = sorted(path.name for path in FIXTURES.glob("legacy_sse_*.txt"))
UNICODE_EVENTS = [{"event": "cmpl", "text": "你好，世界！"},
                  {"event": "cmpl", "text": " 🚀 👩‍💻✨"},
                  {"event": "cmpl", "text": " café naïve résumé —（祝你顺利）"},
                  {"event": "all_done"}]
UNICODE_BODY = b"".join(b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\n\n" for e in UNICODE_EVENTS)


def decode_in_pieces(body: bytes, cuts: list[int]) -> list[str]:
    decoder, out, start = SSEDecoder(), [], 0
    for cut in cuts + [len(body)]:
        out += decoder.feed(body[start:cut])
        start = cut
    return out + decoder.finish()


def expected_data(body: bytes) -> list[str]:
    return [line[6:] for line in body.decode("utf-8").split("\n") if line.startswith("data: ")]


@pytest.mark.parametrize("name", LEGACY_FIXTURES)
def test_every_two_way_split_of_a_fixture_gives_the_same_events(name):
    body = (FIXTURES / name).read_bytes()
    expected = expected_data(body)
    assert len(expected) >= 4
    for cut in range(len(body) + 1):
        assert decode_in_pieces(body, [cut]) == expected, cut


def test_multi_byte_characters_survive_every_split_point():
    expected = [json.dumps(e, ensure_ascii=False) for e in UNICODE_EVENTS]
    for cut in range(len(UNICODE_BODY) + 1):
        assert decode_in_pieces(UNICODE_BODY, [cut]) == expected, cut


def test_one_byte_at_a_time_keeps_every_character():
    events = decode_in_pieces(UNICODE_BODY, list(range(1, len(UNICODE_BODY))))
    assert "".join(json.loads(e).get("text", "") for e in events) == \
        "你好，世界！ 🚀 👩‍💻✨ café naïve résumé —（祝你顺利）"


def test_events_complete_only_at_the_blank_line():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"event":"done"}\n') == []
    assert decoder.feed(b"\n") == ['{"event":"done"}']


@pytest.mark.parametrize("body, expected", [
    (b'data: {"a":1}\r\n\r\ndata: {"b":2}\r\n\r\n', ['{"a":1}', '{"b":2}']),  # CRLF lines
    (b': keep-alive\n\nevent: cmpl\ndata:{"a":1}\n\n', ['{"a":1}']),  # comment, event line, no space
    (b'data: first\ndata: second\n\n', ["first\nsecond"]),  # multi-line data joins with \n
    (b'data: {"event":"all_done"}', ['{"event":"all_done"}']),  # last event without its blank line
    (b"\n\n\n", []),
])
def test_stream_shapes(body, expected):
    assert decode_in_pieces(body, []) == expected


def test_a_line_that_never_ends_is_refused():
    decoder = SSEDecoder(max_event_chars=1000)
    decoder.feed(b"data: " + b"x" * 900)
    with pytest.raises(ProtocolError, match="over 1000 characters"):
        decoder.feed(b"x" * 200)
