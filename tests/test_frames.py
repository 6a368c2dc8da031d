"""Connect envelope encoding and incremental decoding (kimi/connect/frames.py)."""
import math

import pytest

from kimi.errors import ProtocolError
from kimi.connect.frames import Frame, FrameDecoder, encode_envelope
from tests.support.fixture_streams import build_body, load_frames, stream_names

STREAMS = stream_names()


def _expected(name):
    return [Frame(flags, payload) for flags, payload in load_frames(name)]


def _decode_chunks(chunks, decoder=None):
    decoder = decoder or FrameDecoder()
    frames = [frame for chunk in chunks for frame in decoder.feed(chunk)]
    decoder.finish()
    return frames


@pytest.mark.parametrize("payload, flags, wire", [
    ({"heartbeat": {}}, 0, b"\x00\x00\x00\x00\x10" + b'{"heartbeat":{}}'),  # A.4 example
    ({}, 2, b"\x02\x00\x00\x00\x02{}"),  # the success trailer
    ({"t": "é"}, 0, b"\x00\x00\x00\x00\x0a" + '{"t":"é"}'.encode()),  # UTF-8, not \\u escapes
    (b"raw", 0, b"\x00\x00\x00\x00\x03raw"),
    (b"", 2, b"\x02\x00\x00\x00\x00"),
])
def test_encode_envelope_writes_flag_length_and_compact_json(payload, flags, wire):
    assert encode_envelope(payload, flags) == wire


@pytest.mark.parametrize("payload, flags", [
    ({"op": "append", "mask": "block.text.content", "block": {"text": {"content": "你好 🚀"}}}, 0),
    ({"error": {"code": "unauthenticated"}}, 2),
    ({}, 2),
])
def test_decoder_round_trips_encoded_frames(payload, flags):
    assert FrameDecoder().feed(encode_envelope(payload, flags)) == [Frame(flags, payload)]


@pytest.mark.parametrize("name", STREAMS)
def test_encoder_matches_fixture_recipe(name):
    envelopes = [encode_envelope(payload, flags) for flags, payload in load_frames(name)]
    assert b"".join(envelopes) == build_body(name)


@pytest.mark.parametrize("name", STREAMS)
def test_fixture_body_split_in_two_at_every_offset_gives_original_frames(name):
    body, expected = build_body(name), _expected(name)
    for cut in range(len(body) + 1):
        assert _decode_chunks([body[:cut], body[cut:]]) == expected, f"cut at byte {cut}"


@pytest.mark.parametrize("name", STREAMS)
def test_fixture_body_fed_one_byte_at_a_time_gives_original_frames(name):
    body = build_body(name)
    assert _decode_chunks(body[i:i + 1] for i in range(len(body))) == _expected(name)


def test_one_feed_returns_every_complete_frame_and_keeps_the_rest():
    decoder = FrameDecoder()
    wire = encode_envelope({"a": 1}) + encode_envelope({"b": 2}) + encode_envelope({}, 2)
    assert decoder.feed(wire[:-3]) == [Frame(0, {"a": 1}), Frame(0, {"b": 2})]
    assert decoder.has_partial
    assert decoder.feed(wire[-3:]) == [Frame(2, {})]
    assert not decoder.has_partial


def test_zero_length_data_frame_is_skipped_and_zero_length_trailer_is_empty_success():
    wire = encode_envelope(b"") + encode_envelope({"a": 1}) + encode_envelope(b"", 2)
    assert _decode_chunks([wire]) == [Frame(0, {"a": 1}), Frame(2, {})]


def test_frame_is_end_stream_reads_flag_0x02():
    assert Frame(2, {}).is_end_stream and not Frame(0, {}).is_end_stream


def test_oversized_frame_raises_as_soon_as_its_header_arrives():
    decoder = FrameDecoder(max_frame_bytes=10)
    assert decoder.feed(encode_envelope(b'{"a":"12"}')) == [Frame(0, {"a": "12"})]  # 10 is allowed
    with pytest.raises(ProtocolError, match="11-byte frame"):
        decoder.feed(b"\x00\x00\x00\x00\x0b")  # header only, no payload bytes yet


def test_default_limit_is_16_mib():
    FrameDecoder().feed(b"\x00\x01\x00\x00\x00")  # exactly 16 MiB declared: waits for the bytes
    with pytest.raises(ProtocolError, match="limit"):
        FrameDecoder().feed(b"\x00\x01\x00\x00\x01")


@pytest.mark.parametrize("wire, message", [
    (b"\x01\x00\x00\x00\x02{}", "compressed"),
    (b"\x03\x00\x00\x00\x02{}", "compressed"),
    (encode_envelope(b"not json"), "not UTF-8 JSON"),
    (encode_envelope(b'{"a": "\xff"}'), "not UTF-8 JSON"),
    (encode_envelope('{"a":1}'.encode("utf-16")), "not UTF-8 JSON"),
    (encode_envelope(b"[1, 2]"), "is a list, not an object"),
    (encode_envelope(b'"text"'), "is a str, not an object"),
    (encode_envelope(b"null", 2), "is a NoneType, not an object"),
])
def test_bad_frames_raise_protocol_error(wire, message):
    with pytest.raises(ProtocolError, match=message):
        FrameDecoder().feed(wire)


@pytest.mark.parametrize("partial", [
    b"\x00\x00",  # inside the header
    encode_envelope({"text": "cut short"})[:-4],  # inside the payload
])
def test_finish_raises_when_stream_ends_inside_a_frame(partial):
    decoder = FrameDecoder()
    assert decoder.feed(partial) == []
    with pytest.raises(ProtocolError, match="ended inside a frame"):
        decoder.finish()


def test_finish_accepts_a_stream_that_ends_between_frames():
    decoder = FrameDecoder()
    decoder.feed(encode_envelope({}, 2))
    decoder.finish()
    assert not decoder.has_partial


def test_json_that_only_the_lenient_decoder_accepts_still_decodes():
    # orjson refuses NaN and lone surrogates; json accepts them, and so did we before orjson.
    frames = FrameDecoder().feed(encode_envelope(b'{"n":NaN,"s":"\\ud800"}'))
    assert math.isnan(frames[0].payload["n"]) and frames[0].payload["s"] == "\ud800"
