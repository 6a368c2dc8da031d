"""The HTTP client for Kimi's Connect RPC API: sends one chat turn (with its uploaded attachments) and
returns a ChatStream of neutral events, and deletes chats. A call's `requests`/socket failures become
KimiErrors through kimi/transport.py here; those of reading a stream, in kimi/connect/stream.py.
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Optional

import requests

from kimi import errors, prompt, rest, tokens
from kimi.connect import uploads
from kimi.conversations import ChatTips, LocalTips
from kimi.events import ChatRequest
from kimi.connect.frames import FrameDecoder, encode_envelope
from kimi.models import ModelSpec, ModelTable, choose_effort
from kimi.stall import StallWatch
from kimi.connect.stream import ChatStream
from kimi.attachments import DEFAULT_MAX_BYTES, DEFAULT_MAX_COUNT, Fetcher, close_all
from kimi.transport import Answer, Endpoints, Poster, browser_headers, calling, http_error, pooled_session, read_excerpt
from kimi.uploads import Uploader, fetch_newest
from kimi.usage import estimate_tokens

__all__ = ["ChatStream", "KimiClient", "build_chat_body"]  # ChatStream lives in kimi/connect/stream.py; callers import it here

_SEND_FAULTS = calling("Kimi")
UNARY_READ_TIMEOUT = 10  # DeleteChat and friends answer at once; a stuck one must not hold a greenlet long
CALLERS_KEPT = 4096  # tokens whose headers are kept built: the pool's accounts and own tokens seen lately


class KimiClient:
    """One per app: holds the connection pool, the model table, the conversation memory and the uploader."""

    def __init__(self, *, endpoints: Endpoints, models: ModelTable,
                 connect_timeout: float = 10, read_timeout: float = 120,
                 max_frame_bytes: int = 16 * 1024 * 1024,
                 conversations: Optional[ChatTips] = None,
                 max_upload_bytes: int = DEFAULT_MAX_BYTES,
                 allow_private_urls: bool = False, parse_timeout: float = 60,
                 prompt_as_file_bytes: int = uploads.PROMPT_AS_FILE_BYTES,
                 max_attachments: int = DEFAULT_MAX_COUNT, max_attachments_bytes: int = DEFAULT_MAX_BYTES,
                 session: Optional[requests.Session] = None, pool_size: int = 1000):
        self.models = models
        self.connect_timeout = connect_timeout
        self.timeout = (connect_timeout, read_timeout)
        self.stalls = StallWatch(read_timeout)  # the read deadline of answers once their head is in
        self.max_frame_bytes = max_frame_bytes
        self.conversations = conversations or LocalTips()
        self.session = session or pooled_session(endpoints.base_url, pool_size)
        self.fetcher = Fetcher(max_bytes=max_upload_bytes, connect_timeout=connect_timeout,
                               read_timeout=read_timeout, allow_private=allow_private_urls,
                               max_count=max_attachments, max_total_bytes=max_attachments_bytes)
        self.uploader = Uploader(rest.Transport(base_url=endpoints.base_url, connect_timeout=connect_timeout,
                                                read_timeout=read_timeout, session=self.session),
                                 endpoints, parse_timeout=parse_timeout)
        self.prompt_as_file_bytes = prompt_as_file_bytes  # 0: every prompt goes inline
        self.headers = _constant_headers(endpoints.base_url)
        self._chat = Poster(self.session, endpoints.chat_url, self.timeout)
        self._delete = Poster(self.session, endpoints.delete_chat_url, (connect_timeout, UNARY_READ_TIMEOUT))
        # A caller's headers are the same on every call but the request id: built once per token.
        self._callers: dict[tuple[str, Optional[str]], _Caller] = {}

    def open_chat(self, chat: ChatRequest, token: str, claims: Optional[dict[str, Any]] = None,
                  device_id: Optional[str] = None, model: Optional[ModelSpec] = None) -> ChatStream:
        """Send the turn and read up to the first content; raises KimiError while the caller can
        still answer with a proper HTTP status (Kimi reports auth and overload inside HTTP 200).
        Attachments are fetched before anything reaches Kimi, so a bad one costs no upload.
        `claims`, `device_id`: the token's, when the caller knows them already (tokens.Credential);
        `model`: the account's catalogue entry for chat.model, when it has one (else the model table's)."""
        caller = self._caller(token, _access_claims(token, claims), device_id)
        model = model or self.models.resolve(chat.model)
        payloads = fetch_newest(self.fetcher, chat)
        text = prompt.build_prompt(chat.messages, is_continuation=bool(chat.conversation_id),
                                   tools=chat.tools, tool_choice=chat.tool_choice)
        inline, payloads = uploads.move_long_prompt(text, payloads, self.prompt_as_file_bytes)
        parent_id = chat.parent_id or (self.conversations.last_message_id(chat.conversation_id)
                                       if chat.conversation_id else None)
        try:
            file_ids = uploads.upload_all(self.uploader, payloads, token, caller.identity) if payloads else []
        finally:
            close_all(payload for payload, _ in payloads)
        body = build_chat_body(inline, model, chat, parent_id, file_ids)
        response = self._post(self._chat, encode_envelope(body), caller.headers_of_a_call())
        stream = ChatStream(response, FrameDecoder(self.max_frame_bytes), self.conversations,
                            prompt_tokens=estimate_tokens(text), model_id=model.id, stalls=self.stalls)
        try:
            stream.peek()
        except BaseException:
            stream.close()
            raise
        return stream

    def delete_chat(self, chat_id: str, credential: tokens.Credential) -> None:
        """DeleteChat, a unary Connect call (A.1), with the identity the chat was sent with; KimiError when
        Kimi refuses or cannot be reached."""
        caller = self._caller(credential.token, credential.claims or {}, credential.device_id)
        headers = {**caller.headers_of_a_call(), "Content-Type": "application/json", "Accept": "application/json"}
        data = json.dumps({"chat_id": chat_id}).encode()
        with self._post(self._delete, data, headers) as response:
            read_excerpt(response, 4096)  # its small body to the end: the connection goes back to the pool

    def _caller(self, token: str, claims: dict[str, Any], device_id: Optional[str]) -> _Caller:
        """The headers of `token`'s calls, built on its first call (claims are the token's own, so the
        token and device id say it all); forgotten all at once when too many callers were seen."""
        key = (token, device_id)
        caller = self._callers.get(key)
        if caller is None:
            if len(self._callers) >= CALLERS_KEPT:
                self._callers.clear()
            caller = self._callers[key] = _Caller(self.headers, _identity(token, claims, device_id))
        return caller

    def _post(self, poster: Poster, data: bytes, headers: dict[str, str]) -> Answer:
        with _SEND_FAULTS:
            response = poster.post(data, headers)
        if response.status_code != 200:
            with response:
                raise http_error(response, 2048)
        return response


class _Caller:
    """One caller's headers, built once: its identity (also what its uploads carry) over the constant ones."""

    __slots__ = ("identity", "headers")

    def __init__(self, constant: dict[str, str], identity: dict[str, str]):
        self.identity = identity
        self.headers = {**constant, **identity}

    def headers_of_a_call(self) -> dict[str, str]:
        """Its headers and a fresh request id."""
        return {**self.headers, "X-Request-Id": uuid.uuid4().hex}


def build_chat_body(text: str, model: ModelSpec, chat: ChatRequest, parent_id: Optional[str],
                    file_ids: Optional[list[str]] = None) -> dict[str, Any]:
    """The Chat request payload (docs/kimi-protocol.md A.5); new chats omit chat_id/parent_id (C.3)."""
    search = model.search if chat.search is None else chat.search
    blocks: list[dict[str, Any]] = [{"message_id": "", "text": {"content": text}}]
    blocks.extend({"file": {"id": file_id}} for file_id in file_ids or ())  # after the text block (A.5)
    message: dict[str, Any] = {"role": "user", "blocks": blocks, "scenario": model.scenario}
    options = _options(model, chat)
    body: dict[str, Any] = {"scenario": model.scenario, "message": message, "options": options}
    tools = [{"type": "TOOL_TYPE_SEARCH", "search": {"force": True} if search == "force" else {}}] if search else []
    tools.extend({"type": tool_type} for tool_type in model.extra_tools)
    if tools:
        body["tools"] = tools
    if chat.conversation_id:
        body["chat_id"] = chat.conversation_id
        if parent_id:
            message["parent_id"] = parent_id
    if model.kimiplus_id:
        body["kimiplus_id"] = model.kimiplus_id  # C2A's spelling; protobuf-JSON also reads kimiplusId (C.2)
    if model.agent_mode:
        body["agentMode"] = model.agent_mode
    return body


# Where a caller gets a token that works, in the words of the /auth page and the README (B.1.3).
_HOW_TO_GET_A_TOKEN = ("On www.kimi.com open DevTools → Application → Local Storage → https://www.kimi.com and "
                       "copy `access_token` (a JWT starting with eyJ; an older login's `kimi-auth` cookie works "
                       "too). It lives 15 minutes: for longer use, save the `access_token` and `refresh_token` "
                       "pair on the server's /auth page, which renews itself, and call it with a proxy key.")


def _options(model: ModelSpec, chat: ChatRequest) -> dict[str, Any]:
    """Chat `options` (B.3.2). A catalogue entry (one with efforts) always sends `thinking: true`, as the
    web client does, and says "no reasoning" with REASONING_EFFORT_NONE; other entries send their flag."""
    if model.efforts:
        effort = choose_effort(_effort_level(model, chat), model)
        options: dict[str, Any] = {"thinking": True, "reasoning_effort": effort}
    else:
        options = {"thinking": bool(model.thinking if chat.thinking is None else chat.thinking)}
        if model.reasoning_effort:
            options["reasoning_effort"] = model.reasoning_effort
    given = {"context_length": model.context_length, "model": model.kimi_model}
    options.update((key, value) for key, value in given.items() if value)
    return options


def _effort_level(model: ModelSpec, chat: ChatRequest) -> Optional[str]:
    """The neutral effort asked for: the request's own, else what its thinking switch implies."""
    if chat.reasoning_effort or chat.thinking is None:
        return chat.reasoning_effort
    if not chat.thinking:
        return "none"
    return "high" if model.reasoning_effort == "REASONING_EFFORT_NONE" else None


def _access_claims(token: str, claims: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    claims = tokens.read_claims(token) if claims is None else claims
    if not tokens.is_access_jwt(claims):
        raise errors.AuthRejected(
            "This is not a Kimi access token. Send it as `Authorization: Bearer <token>`. " + _HOW_TO_GET_A_TOKEN,
            code="invalid_token")
    if tokens.is_expired(claims):
        raise errors.AuthRejected("The Kimi access token has expired. " + _HOW_TO_GET_A_TOKEN,
                                  code="token_expired")
    return claims


def _constant_headers(base_url: str) -> dict[str, str]:
    """The headers Kimi's web client sends on every call (A.3) that depend on no caller: built once."""
    return {
        "Content-Type": "application/connect+json",
        "Connect-Protocol-Version": "1",
        "Accept": "application/connect+json",
        # Identity keeps each frame readable the moment it arrives (A.14).
        "Accept-Encoding": "identity",
        **browser_headers(base_url),
        "X-Msh-Version": "2.2.0",  # what the 2026-09 captures send (kimi-protocol-2026.md B.1.4)
        "X-Language": "en-US",
        "R-Timezone": "UTC",
    }


def _identity(token: str, claims: dict[str, Any], device_id: Optional[str] = None) -> dict[str, str]:
    """Who calls, as the 2026 web page says it (kimi-protocol-2026.md B.1.4): the Bearer token only (new
    logins have no kimi-auth cookie, B.8), the ids the token's claims hold, and its device id (the claim,
    else `device_id`, else derived from its user: tokens.device_id_of), the same on every call."""
    headers = {"Authorization": f"Bearer {token}"}
    device_id = device_id or tokens.device_id_of(claims)
    if device_id:
        headers["X-Msh-Device-Id"] = device_id
    for header, claim in (("X-Msh-Session-Id", "ssid"), ("X-Traffic-Id", "sub")):
        if claims.get(claim):
            headers[header] = str(claims[claim])
    return headers
