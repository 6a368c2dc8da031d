"""HTTP/1.1 chunked transfer decoding (kimi/connect/chunked.py): bytes cut anywhere give the body back."""
import pytest

from kimi.connect.chunked import ChunkedDecoder
from kimi.errors import ProtocolError
from tests.support.fixture_streams import build_body

BODY = build_body("plain_text.jsonl")


def chunked(pieces, last=b"0\r\n\r\n"):
    """A chunked body by hand: one chunk per piece, then the last chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + last


def _decode(reads):
    decoder = ChunkedDecoder()
    body = b"".join(decoder.feed(data) for data in reads)
    return body, decoder.is_done


@pytest.mark.parametrize("wire", [
    chunked([BODY]),
    chunked([BODY[i:i + 7] for i in range(0, len(BODY), 7)]),  # like fake_kimi's replay(split=7)
    chunked([BODY[:100], BODY[100:]]).replace(b"\r\n", b";ext=1\r\n", 1),  # a chunk extension
    chunked([BODY], last=b"0\r\nX-Trailer: yes\r\n\r\n"),
    chunked([BODY]).replace(b"%x\r\n" % len(BODY), b"%X\r\n" % len(BODY)),  # upper-case hex
])
def test_body_split_at_every_offset_comes_back_whole(wire):
    for cut in range(len(wire) + 1):
        assert _decode([wire[:cut], wire[cut:]]) == (BODY, True), f"cut at byte {cut}"


def test_body_fed_one_byte_at_a_time_comes_back_whole():
    wire = chunked([BODY[:50], BODY[50:51], BODY[51:]])
    assert _decode(wire[i:i + 1] for i in range(len(wire))) == (BODY, True)


def test_one_read_of_many_chunks_is_one_piece_of_body():
    decoder = ChunkedDecoder()
    assert decoder.feed(chunked([b"ab", b"cd", b"ef"], last=b"")) == b"abcdef"
    assert not decoder.is_done


def test_nothing_after_the_last_chunk_is_body():
    decoder = ChunkedDecoder()
    assert decoder.feed(chunked([b"ab"]) + b"HTTP/1.1 200 OK\r\n") == b"ab"
    assert decoder.is_done and decoder.feed(b"more") == b""


@pytest.mark.parametrize("wire, message", [
    (b"zz\r\nab\r\n", "bad chunk-size line"),
    (b"\r\nab\r\n", "bad chunk-size line"),
    (b"-2\r\nab\r\n", "bad chunk-size line"),
    (b"2\r\nabcd\r\n", "no CRLF after a chunk"),
    (b"1" * 5000, "overlong chunk-size line"),
])
def test_broken_framing_raises_protocol_error(wire, message):
    with pytest.raises(ProtocolError, match=message) as caught:
        ChunkedDecoder().feed(wire)
    assert caught.value.code == "bad_chunk"


def test_the_response_is_complete_only_once_the_trailer_section_has_ended():
    decoder = ChunkedDecoder()
    assert decoder.feed(chunked([b"ab"], last=b"0\r\n")) == b"ab"
    assert decoder.is_done and not decoder.is_complete  # the blank line may come in the next read
    assert decoder.feed(b"X-Trailer: yes\r\n") == b"" and not decoder.is_complete
    assert decoder.feed(b"\r\n") == b"" and decoder.is_complete
