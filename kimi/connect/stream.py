"""ChatStream: one open Connect Chat response as a closable iterator of neutral events, fed as frames
arrive (docs/kimi-protocol.md A.4-A.10). Read failures become KimiErrors here (kimi/transport.py names them);
opening is kimi/connect/client.py's.
"""
from __future__ import annotations

from collections import deque
from typing import Iterator, Optional


from kimi import errors
from kimi.connect.chunked import ChunkedDecoder
from kimi.conversations import ChatTips
from kimi.events import (CONTENT_EVENTS, ChatStarted, Event, Finished, MessageStarted, TextDelta,
                         ThinkingDelta, UpstreamError)
from kimi.connect.frames import Frame, FrameDecoder
from kimi.connect.parse import StreamParser
from kimi.stall import StallWatch, watching
from kimi.transport import Answer, reading_answer

READ_SIZE = 64 * 1024


class ChatStream:
    """A closable iterator of neutral events over one open upstream response."""

    def __init__(self, response: Answer, decoder: FrameDecoder,
                 conversations: ChatTips, prompt_tokens: int = 0,
                 model_id: str = "", stalls: Optional[StallWatch] = None):
        self._response = response
        self._stalls = stalls  # keeps the read deadline once the head is in; without it, the socket does
        self._decoder = decoder
        self._parser = StreamParser()
        self._conversations = conversations
        self._pending: deque[Event] = deque()
        self._live = self._read_batches()
        self.prompt_tokens = prompt_tokens
        self.chat_id: Optional[str] = None
        self.message_id: Optional[str] = None
        self.model_id = model_id  # the model table entry Kimi was asked for (after any fallback)

    @property
    def unknown_kinds(self) -> set[str]:
        return self._parser.unknown_kinds

    def peek(self) -> None:
        """Buffer events up to and including the first piece of content (errors raise)."""
        for batch in self._live:
            self._pending.extend(batch)
            if any(isinstance(event, CONTENT_EVENTS) for event in batch):
                return

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        while not self._pending:
            self._pending.extend(next(self._live))
        return self._pending.popleft()

    @property
    def has_pending(self) -> bool:
        """True while events already read are waiting: the next one comes without touching the network.
        A renderer can write once per upstream read by writing only when this turns false."""
        return bool(self._pending)

    def close(self) -> None:
        self._live.close()
        self._response.close()

    def _read_batches(self) -> Iterator[list[Event]]:
        """Events in lists, one per upstream read; the last list ends with Finished."""
        finished: Optional[Finished] = None
        parse = self._parser.feed
        batch: list[Event] = []
        is_ended = False
        reads = self._frames()
        try:
            for frames in reads:
                batch = []
                for frame in frames:
                    for event in parse(frame):
                        kind = type(event)
                        if kind is TextDelta or kind is ThinkingDelta:  # nearly every event: tested first
                            batch.append(event)
                        elif kind is Finished:
                            finished = event  # an error may still follow `done` (A.10): hold it back
                        elif kind is UpstreamError:
                            if batch:
                                yield batch  # what arrived before the error goes out first
                            raise errors.from_upstream_error(event)
                        else:
                            self._note(event)
                            batch.append(event)
                    is_ended = frame.is_end_stream
                    if is_ended:
                        break
                if is_ended:
                    break  # this read's events go out together with Finished, below
                if batch:
                    yield batch
            else:
                batch = []
                if finished is None:
                    raise errors.ProtocolError("Kimi's stream ended before the answer was complete.",
                                               code="upstream_truncated")
            if self.chat_id and self.message_id:
                self._conversations.remember(self.chat_id, self.message_id)
            batch.append(finished or Finished("stop"))
            yield batch
            _read_to_the_end(reads)
        finally:
            reads.close()
            self._response.close()  # nothing left to do once the connection went back to the pool

    def _frames(self) -> Iterator[list[Frame]]:
        """The frames each upstream read completes: one list per read, however many arrived."""
        raw = self._response.raw
        # For a chunked body, urllib3's read1 returns one HTTP chunk (one Kimi frame) per call. Reading
        # the connection's buffered file and de-chunking here hands over all that has arrived at once.
        connection = getattr(raw, "_fp", None)  # the http.client response inside urllib3's
        if getattr(connection, "chunked", False) and connection.chunk_left is None and connection.fp:
            read, chunked = connection.fp.read1, ChunkedDecoder()
        else:
            read, chunked = raw.read1, None
        decoder = self._decoder
        with watching(self._stalls, self._response) as watched, reading_answer(watched):
            while True:
                watched.reads += 1  # odd while waiting for Kimi: only that time counts as silence
                data = read(READ_SIZE)
                watched.reads += 1
                is_last = not data
                if is_last and watched.stalled:
                    raise errors.silent_mid_answer()
                if chunked is not None:
                    if is_last:  # a chunked body ends with its zero-size chunk, never with EOF
                        raise errors.cut_mid_answer()
                    data = chunked.feed(data)
                    is_last = chunked.is_complete
                if data:
                    yield decoder.feed(data)
                if is_last:
                    decoder.finish()
                    break
        if chunked is not None:
            _release(self._response)

    def _note(self, event: Event) -> None:
        if isinstance(event, ChatStarted):
            self.chat_id = event.chat_id
        elif isinstance(event, MessageStarted):
            self.message_id = event.message_id


def _read_to_the_end(reads: Iterator[list[Frame]]) -> None:
    """Read what follows the end-of-stream envelope (the body's terminating chunk), so that `_frames` can
    hand the connection back to the pool. Runs once the last events are out, when the consumer asks for
    more: a consumer that stops at Finished closes the connection instead, as does any fault here."""
    try:
        for _ in reads:
            pass  # frames after the end of the stream mean nothing (A.10)
    except errors.KimiError:
        pass  # the answer is whole; this connection is merely not reused


def _release(response: Answer) -> None:
    """Give the connection of a fully read chunked answer back to urllib3's pool. The body was read past
    urllib3 (`_frames`), so urllib3 cannot see that it ended: http.client's response is closed as it would
    close itself after the last chunk (its file, not the socket) and the connection released by hand."""
    response.raw._fp.close()
    response.raw.release_conn()
