"""The client for Kimi's legacy REST API (docs/kimi-protocol.md part B): one chat turn per call, from a
refresh token to a LegacyChatStream. Creates a temporary chat per request unless the caller
continues one, uploads attachments, and checks the research quota before using it.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Optional

import requests

from kimi import errors
from kimi.events import ChatRequest
from kimi.legacy.auth import Access, AccessTokens, RotationHook
from kimi.legacy.files import refs_entry, upload_file
from kimi.legacy.parse import LegacyParser, QuotaUsedUp
from kimi.legacy.prompt import build_prompt
from kimi.legacy.stream import LegacyChatStream
from kimi.rest import Transport, raise_for_error_type, read_excerpt
from kimi.models import ModelTable
from kimi.stall import StallWatch
from kimi.attachments import DEFAULT_MAX_BYTES, DEFAULT_MAX_COUNT, Fetcher, close_all
from kimi.transport import Endpoints
from kimi.uploads import Uploader, fetch_newest
from kimi.usage import estimate_tokens

log = logging.getLogger(__name__)

K1_KIMIPLUS_ID = "crm40ee9e5jvhsn7ptcg"  # B.2 (KFA)
# Chat and kimiplus ids: 20 lowercase base32-ish characters (B.2); KFA accepts either case.
CHAT_ID = re.compile(r"[0-9a-zA-Z]{20}")
KIMIPLUS_ID = re.compile(r"[0-9a-z]{20}")
NEW_CHAT_NAME = "未命名会话"  # "untitled chat", what the web client sends; Kimi renames it after the answer
DELETE_TIMEOUT = 10


@dataclass(frozen=True)
class LegacyModel:
    """What a model id asks of the legacy API (B.3 flags)."""

    kimiplus_id: str = "kimi"
    use_search: bool = False
    use_research: bool = False
    use_math: bool = False
    show_sources: bool = True  # `*silent*` models search without showing where they looked


class LegacyClient:
    """One per app: holds the session, the access-token cache and the model table."""

    def __init__(self, *, endpoints: Endpoints, models: ModelTable, connect_timeout: float = 10,
                 read_timeout: float = 120, max_upload_bytes: int = DEFAULT_MAX_BYTES,
                 allow_private_urls: bool = False, parse_timeout: float = 60,
                 max_attachments: int = DEFAULT_MAX_COUNT, max_attachments_bytes: int = DEFAULT_MAX_BYTES,
                 max_continuations: int = 5, session: Optional[requests.Session] = None,
                 on_rotated: Optional[RotationHook] = None):
        self.endpoints = endpoints
        self.transport = Transport(base_url=endpoints.legacy_base_url, connect_timeout=connect_timeout,
                                   read_timeout=read_timeout, session=session)
        self.models = models
        # on_rotated: see kimi.legacy.auth; the app lets the account pool store rotated refresh tokens.
        self.tokens = AccessTokens(self.transport, endpoints, on_rotated=on_rotated)
        self.fetcher = Fetcher(max_bytes=max_upload_bytes, connect_timeout=connect_timeout,
                               read_timeout=read_timeout, allow_private=allow_private_urls,
                               max_count=max_attachments, max_total_bytes=max_attachments_bytes)
        self.uploader = Uploader(self.transport, endpoints, parse_timeout=parse_timeout)
        self.max_continuations = max_continuations
        self.stalls = StallWatch(read_timeout)  # the read deadline of answers once their head is in

    def open_chat(self, chat: ChatRequest, refresh_token: str, keep_chat: bool = False) -> LegacyChatStream:
        """Send the turn and read up to the first content; raises KimiError while the caller can still
        answer with a proper HTTP status. The temporary chat is deleted on close() unless
        `keep_chat` is set or the caller continued its own chat (`conversation_id`)."""
        model = self.read_model(chat)
        given_id = _conversation_id(chat)
        # The token first: a caller's own refresh token is proven by Kimi before its attachments are fetched.
        # Bad attachments still fail before the chat is created or anything uploaded.
        access = self._access(refresh_token)
        payloads = fetch_newest(self.fetcher, chat)
        created: Optional[str] = None
        try:
            if model.use_research:
                self._check_research_quota(access)
            chat_id = given_id or self._create_chat(access, model)
            created = None if given_id else chat_id
            # Documents are registered against the chat (B.6 step 3), so uploads follow its creation.
            files = [upload_file(self.uploader, payload, kind, access, chat_id) for payload, kind in payloads]
            close_all(payload for payload, _ in payloads)
            text = build_prompt(chat.messages, is_continuation=bool(given_id),
                                tools=chat.tools, tool_choice=chat.tool_choice)
            response = self._post_completion(access, chat_id, _completion_body(text, model, files))
        except BaseException as exc:
            close_all(payload for payload, _ in payloads)
            self._after_failure(exc, refresh_token, access, created)
            raise
        kept = keep_chat or created is None
        stream = LegacyChatStream(
            response, chat_id=chat_id, parser=LegacyParser(show_sources=model.show_sources),
            reopen=lambda segment_id: self._post_completion(access, chat_id, _continue_body(segment_id, model)),
            cleanup=(lambda: None) if kept else (lambda: self._delete_chat(access, chat_id)),
            on_auth_rejected=lambda: self.tokens.drop(refresh_token), prompt_tokens=estimate_tokens(text),
            max_continuations=self.max_continuations, stalls=self.stalls)
        try:
            stream.peek()
        except BaseException:
            stream.close()
            if created and keep_chat:  # the caller will never hear of this chat: do not leave it behind
                self._delete_chat(access, created)
            raise
        return stream

    def read_model(self, chat: ChatRequest) -> LegacyModel:
        """The B.3 flags of a model id: `*search*`, `*research*`, `*math*`, `*k1*`, `*silent*`, or a
        20-character kimiplus id selecting that agent."""
        name = chat.model.lower()
        if KIMIPLUS_ID.fullmatch(chat.model):
            kimiplus_id = chat.model
        else:
            kimiplus_id = K1_KIMIPLUS_ID if "k1" in name else "kimi"
        silent = "silent" in name
        # "research" contains "search", so research models search too (as in KFA's substring tests);
        # otherwise the request's own setting wins, then the model table's default.
        search = chat.search if chat.search is not None else (
            "search" in name or silent or bool(self.models.resolve(chat.model).search))
        return LegacyModel(kimiplus_id=kimiplus_id, use_search=bool(search), use_research="research" in name,
                           use_math="math" in name, show_sources=not silent)

    def _access(self, refresh_token: str) -> Access:
        try:
            return self.tokens.get(refresh_token)
        except errors.AuthRejected:
            log.info("legacy refresh token refused")
            raise

    def _after_failure(self, exc: BaseException, refresh_token: str, access: Access,
                       created: Optional[str]) -> None:
        if isinstance(exc, errors.AuthRejected):
            self.tokens.drop(refresh_token)  # B.1: a 401 means the cached access token is dead
        if created:  # the caller never learns this chat's id, so it is deleted even with keep_chat
            self._delete_chat(access, created)

    def _check_research_quota(self, access: Access) -> None:
        usage = self.transport.call_json("GET", self.endpoints.research_usage_path,
                                         self.transport.headers(access.token, access.user_id))
        if isinstance(usage, dict) and isinstance(usage.get("data"), dict):
            usage = usage["data"]
        remain = usage.get("remain") if isinstance(usage, dict) else None
        if isinstance(remain, (int, float)) and remain <= 0:
            # When the quota renews is not known, so no Retry-After; QuotaUsedUp tells SDKs not to retry.
            raise QuotaUsedUp(f"Kimi's research quota is used up: {usage.get('used', '?')} of "
                              f"{usage.get('total', '?')} used, {remain} left.",
                              code="research_quota_exhausted", retry_after=None)

    def _create_chat(self, access: Access, model: LegacyModel) -> str:
        body = {"enter_method": "new_chat", "is_example": False, "kimiplus_id": model.kimiplus_id,
                "name": NEW_CHAT_NAME}
        headers = self.transport.headers(access.token, access.user_id)
        created = self.transport.call_json("POST", self.endpoints.legacy_chat_path, headers, json=body)
        chat_id = created.get("id") if isinstance(created, dict) else None
        if not isinstance(chat_id, str) or not chat_id:
            raise errors.ProtocolError("Kimi created a chat without an id.", code="bad_chat")
        return chat_id

    def _delete_chat(self, access: Access, chat_id: str) -> None:
        """Best effort (B.2): a failure is logged, never raised; the reply has already been given."""
        headers = self.transport.headers(access.token, access.user_id)
        try:
            self.transport.send("DELETE", self.endpoints.legacy_chat(chat_id), headers,
                                timeout=(self.transport.connect_timeout, DELETE_TIMEOUT)).close()
        except errors.KimiError as err:
            log.warning("could not delete temporary legacy chat %s: %s", chat_id, err.code or type(err).__name__)

    def _post_completion(self, access: Access, chat_id: str, body: dict[str, Any]) -> requests.Response:
        headers = self.transport.headers(access.token, access.user_id,
                                         referer_path=self.endpoints.chat_page(chat_id))
        headers["Accept"] = "text/event-stream"
        response = self.transport.send("POST", self.endpoints.completion_path(chat_id), headers, json=body)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            # B.5: a failure can come as a JSON body with HTTP 200 instead of a stream.
            with response:
                text = read_excerpt(response)
            raise_for_error_type(_json_or_none(text))
            raise errors.ProtocolError("Kimi answered the completion with JSON instead of a stream.",
                                       code="bad_stream")
        return response


def _conversation_id(chat: ChatRequest) -> Optional[str]:
    if not chat.conversation_id:
        return None
    if not CHAT_ID.fullmatch(chat.conversation_id):
        raise errors.BadRequest("This conversation_id is not a chat of Kimi's refresh-token API (expected "
                                "20 letters and digits, as returned in earlier replies).", param="conversation_id")
    return chat.conversation_id


def _completion_body(text: str, model: LegacyModel, files: list[dict[str, Any]]) -> dict[str, Any]:
    """The completion request (B.3), with uploaded files as refs (B.6 step 5)."""
    return {"kimiplus_id": model.kimiplus_id, "messages": [{"role": "user", "content": text}],
            "refs": [file["id"] for file in files], "refs_file": [refs_entry(file) for file in files],
            "use_search": model.use_search, "use_research": model.use_research, "use_math": model.use_math,
            "extend": {"sidebar": True}}


def _continue_body(segment_id: str, model: LegacyModel) -> dict[str, Any]:
    """Continue an answer Kimi cut at its length limit (B.3)."""
    return {"segment_id": segment_id, "action": "continue", "messages": [{"role": "user", "content": " "}],
            "kimiplus_id": model.kimiplus_id, "extend": {"sidebar": True}}


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
