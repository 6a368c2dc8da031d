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
from kimi.events import (CONTENT_EVENTS, ChatRequest, ChatStarted, Event, Finished, MessageStarted, TextDelta,
                         UpstreamError)
from kimi.frames import FrameDecoder, encode_envelope
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
                 session: Optional[requests.Session] = None):
        self.base_url = base_url.rstrip("/")
        self.chat_url = self.base_url + chat_path
        self.models = models
        self.timeout = (connect_timeout, read_timeout)
        self.max_frame_bytes = max_frame_bytes
        self.conversations = conversations or ConversationMemory()
        self.session = session or requests.Session()

    def open_chat(self, chat: ChatRequest, token: str) -> "ChatStream":
        """Send the turn and read up to the first content; raises KimiError while the caller can
        still answer with a proper HTTP status (Kimi reports auth and overload inside HTTP 200)."""
        claims = _access_claims(token)
        model = self.models.resolve(chat.model)
        text = prompt.build_prompt(chat.messages, is_continuation=bool(chat.conversation_id))
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
        self._live = self._read_events()
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
        for event in self._live:
            self._pending.append(event)
            if isinstance(event, CONTENT_EVENTS):
                return

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        if self._pending:
            return self._pending.popleft()
        return next(self._live)

    def close(self) -> None:
        self._live.close()
        self._response.close()

    def _read_events(self) -> Iterator[Event]:
        finished: Optional[Finished] = None
        try:
            for frame in self._frames():
                for event in self._parser.feed(frame):
                    if isinstance(event, Finished):
                        finished = event  # an error may still follow `done` (A.10): hold it back
                        continue
                    if isinstance(event, UpstreamError):
                        raise errors.from_upstream_error(event)
                    self._note(event)
                    yield event
                    if self._max_tokens and isinstance(event, TextDelta) and self._over_limit(event):
                        # Kimi has no output limit of its own: stop reading and close the answer.
                        yield Finished("length")
                        return
                if frame.is_end_stream:
                    break
            else:
                if finished is None:
                    raise errors.ProtocolError("Kimi's stream ended before the answer was complete.",
                                               code="upstream_truncated")
            if self.chat_id and self.message_id:
                self._conversations.remember(self.chat_id, self.message_id)
            yield finished or Finished("stop")
        finally:
            self._response.close()

    def _over_limit(self, delta: TextDelta) -> bool:
        self._answer_tokens.add(delta.text)
        return self._answer_tokens.tokens >= self._max_tokens

    def _frames(self):
        raw = self._response.raw
        while True:
            try:
                data = raw.read1(READ_SIZE)
            except _TIMEOUTS:
                raise errors.UpstreamTimeout("Kimi stopped sending in the middle of the answer.",
                                             code="upstream_timeout") from None
            except _CONNECTION_FAULTS:
                raise errors.UpstreamUnavailable("The connection to Kimi was cut.",
                                                 code="upstream_disconnected") from None
            if not data:
                self._decoder.finish()
                return
            yield from self._decoder.feed(data)

    def _note(self, event: Event) -> None:
        if isinstance(event, ChatStarted):
            self.chat_id = event.chat_id
        elif isinstance(event, MessageStarted):
            self.message_id = event.message_id


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
