"""The HTTP client for Kimi's Connect RPC Chat call: sends one chat turn and yields neutral events
as each frame arrives. Every `requests`/socket failure becomes a KimiError here, and nowhere else.
"""
from __future__ import annotations

import http.client
import logging
import socket
import uuid
from collections import deque
from typing import Any, Iterator, Optional

import requests
import urllib3.exceptions

from kimi import errors, prompt, tokens
from kimi.conversations import ConversationMemory
from kimi.chunked import ChunkedDecoder
from kimi.events import (CONTENT_EVENTS, ChatRequest, ChatStarted, Event, Finished, MessageStarted, TextDelta,
                         ThinkingDelta, UpstreamError)
from kimi.frames import Frame, FrameDecoder, encode_envelope
from kimi.models import ModelSpec, ModelTable
from kimi.parse import StreamParser
from kimi.usage import TokenCounter, estimate_tokens

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36")
_TIMEOUTS = (requests.Timeout, urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError)
_CONNECTION_FAULTS = (requests.RequestException, urllib3.exceptions.HTTPError,
                      http.client.HTTPException, OSError)


class KimiClient:
    """One per app: holds the connection pool, the model table and the conversation memory."""

    def __init__(self, *, base_url: str, chat_path: str, models: ModelTable,
                 connect_timeout: float = 10, read_timeout: float = 120,
                 max_frame_bytes: int = 16 * 1024 * 1024,
                 conversations: Optional[ConversationMemory] = None,
                 session: Optional[requests.Session] = None, pool_size: int = 1000):
        self.base_url = base_url.rstrip("/")
        self.chat_url = self.base_url + chat_path
        self.models = models
        self.timeout = (connect_timeout, read_timeout)
        self.max_frame_bytes = max_frame_bytes
        self.conversations = conversations or ConversationMemory()
        self.session = session or _pooled_session(pool_size)

    def open_chat(self, chat: ChatRequest, token: str) -> "ChatStream":
        """Send the turn and read up to the first content; raises KimiError while the caller can
        still answer with a proper HTTP status (Kimi reports auth and overload inside HTTP 200)."""
        claims = _access_claims(token)
        model = self.models.resolve(chat.model)
        text = prompt.build_prompt(chat.messages, is_continuation=bool(chat.conversation_id),
                                   tools=chat.tools, tool_choice=chat.tool_choice)
        parent_id = self.conversations.last_message_id(chat.conversation_id) if chat.conversation_id else None
        body = build_chat_body(text, model, chat, parent_id)
        response = self._post(encode_envelope(body), _headers(token, claims))
        stream = ChatStream(response, FrameDecoder(self.max_frame_bytes), self.conversations,
                            prompt_tokens=estimate_tokens(text), max_tokens=chat.max_tokens)
        try:
            stream.peek()
        except BaseException:
            stream.close()
            raise
        return stream

    def _post(self, data: bytes, headers: dict[str, str]) -> requests.Response:
        try:
            response = self.session.post(self.chat_url, data=data, headers=headers,
                                         timeout=self.timeout, stream=True)
        except _TIMEOUTS:
            raise errors.UpstreamTimeout("Kimi did not answer in time.", code="upstream_timeout") from None
        except _CONNECTION_FAULTS as exc:
            log.warning("cannot reach Kimi: %s", type(exc).__name__)
            raise errors.UpstreamUnavailable("Kimi could not be reached.", code="upstream_unreachable") from None
        if response.status_code != 200:
            with response:
                body_text = _read_excerpt(response)
            raise errors.from_http_status(response.status_code, body_text)
        return response


class ChatStream:
    """A closable iterator of neutral events over one open upstream response."""

    def __init__(self, response: requests.Response, decoder: FrameDecoder,
                 conversations: ConversationMemory, prompt_tokens: int = 0,
                 max_tokens: Optional[int] = None):
        self._response = response
        self._decoder = decoder
        self._parser = StreamParser()
        self._conversations = conversations
        self._pending: deque[Event] = deque()
        self._live = self._read_batches()
        self.prompt_tokens = prompt_tokens
        self._max_tokens = max_tokens
        self._answer_tokens = TokenCounter()
        self.chat_id: Optional[str] = None
        self.message_id: Optional[str] = None

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
        parse, max_tokens = self._parser.feed, self._max_tokens
        batch: list[Event] = []
        is_ended = False
        try:
            for frames in self._frames():
                batch = []
                for frame in frames:
                    for event in parse(frame):
                        kind = type(event)
                        if kind is TextDelta or kind is ThinkingDelta:  # nearly every event: tested first
                            batch.append(event)
                            if max_tokens and kind is TextDelta and self._over_limit(event):
                                # Kimi has no output limit of its own: stop reading and close the answer.
                                batch.append(Finished("length"))
                                yield batch
                                return
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
        finally:
            self._response.close()

    def _over_limit(self, delta: TextDelta) -> bool:
        self._answer_tokens.add(delta.text)
        return self._answer_tokens.tokens >= self._max_tokens

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
        while True:
            try:
                data = read(READ_SIZE)
            except _TIMEOUTS:
                raise errors.UpstreamTimeout("Kimi stopped sending in the middle of the answer.",
                                             code="upstream_timeout") from None
            except _CONNECTION_FAULTS:
                raise errors.UpstreamUnavailable("The connection to Kimi was cut.",
                                                 code="upstream_disconnected") from None
            is_last = not data
            if chunked is not None:
                if is_last:  # a chunked body ends with its zero-size chunk, never with EOF
                    raise errors.UpstreamUnavailable("The connection to Kimi was cut.",
                                                     code="upstream_disconnected")
                data = chunked.feed(data)
                is_last = chunked.is_done
            if data:
                yield decoder.feed(data)
            if is_last:
                decoder.finish()
                return

    def _note(self, event: Event) -> None:
        if isinstance(event, ChatStarted):
            self.chat_id = event.chat_id
        elif isinstance(event, MessageStarted):
            self.message_id = event.message_id


def _pooled_session(pool_size: int) -> requests.Session:
    """A session that keeps up to `pool_size` connections to Kimi open for reuse: one gevent worker
    holds hundreds of streams, and requests' default pool of 10 would drop (and log) the rest."""
    session = requests.Session()  # trust_env stays on: HTTPS_PROXY must keep working for Kimi
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def build_chat_body(text: str, model: ModelSpec, chat: ChatRequest, parent_id: Optional[str]) -> dict[str, Any]:
    """The Chat request payload (kimi-protocol.md A.5); new chats omit chat_id/parent_id (C.3)."""
    thinking = model.thinking if chat.thinking is None else chat.thinking
    search = model.search if chat.search is None else chat.search
    message: dict[str, Any] = {"role": "user", "blocks": [{"message_id": "", "text": {"content": text}}],
                               "scenario": model.scenario}
    body: dict[str, Any] = {"scenario": model.scenario, "message": message,
                            "options": {"thinking": bool(thinking)}}
    if search:
        body["tools"] = [{"type": "TOOL_TYPE_SEARCH", "search": {"force": True} if search == "force" else {}}]
    if chat.conversation_id:
        body["chat_id"] = chat.conversation_id
        if parent_id:
            message["parent_id"] = parent_id
    if model.kimiplus_id:
        body["kimiplus_id"] = model.kimiplus_id
    if model.agent_mode:
        body["agentMode"] = model.agent_mode
    return body


def _access_claims(token: str) -> dict[str, Any]:
    claims = tokens.read_claims(token)
    if not tokens.is_access_jwt(claims):
        raise errors.AuthRejected(
            "This is not a kimi-auth access token. Copy the `kimi-auth` cookie from www.kimi.com "
            "(a JWT starting with eyJ) and send it as `Authorization: Bearer <token>`.",
            code="invalid_token")
    if tokens.is_expired(claims):
        raise errors.AuthRejected("The Kimi token has expired. Log in to www.kimi.com again and "
                                  "copy a fresh kimi-auth token.", code="token_expired")
    return claims


def _headers(token: str, claims: dict[str, Any]) -> dict[str, str]:
    """The headers Kimi's web client sends (A.3), ids taken from the token's own claims."""
    headers = {
        "Content-Type": "application/connect+json",
        "Connect-Protocol-Version": "1",
        "Accept": "application/connect+json",
        # Identity keeps each frame readable the moment it arrives (A.14).
        "Accept-Encoding": "identity",
        "Authorization": f"Bearer {token}",
        "Cookie": f"kimi-auth={token}",
        "Origin": "https://www.kimi.com",
        "Referer": "https://www.kimi.com/",
        "User-Agent": USER_AGENT,
        "X-Msh-Platform": "web",
        "X-Msh-Version": "1.0.0",
        "X-Language": "en-US",
        "R-Timezone": "UTC",
        "X-Request-Id": uuid.uuid4().hex,
    }
    for header, claim in (("X-Msh-Device-Id", "device_id"), ("X-Msh-Session-Id", "ssid"),
                          ("X-Traffic-Id", "sub")):
        if claims.get(claim):
            headers[header] = str(claims[claim])
    return headers


def _read_excerpt(response: requests.Response, limit: int = 2048) -> str:
    try:
        return response.raw.read(limit, decode_content=True).decode("utf-8", "replace")
    except (*_TIMEOUTS, *_CONNECTION_FAULTS):
        return ""
