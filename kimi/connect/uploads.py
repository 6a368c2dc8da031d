"""Attachments on the Connect path (docs/kimi-protocol.md A.13): the newest user turn's images and files,
fetched by kimi/attachments.py (size limit, private-address refusal) and uploaded to Kimi's web host with
the pre-sign -> PUT -> register (-> parse) steps the legacy path also takes (kimi/legacy/files.py).
"""
from __future__ import annotations

from typing import Any

import requests

from kimi import errors
from kimi.events import ChatRequest
from kimi.legacy.auth import Access
from kimi.legacy.files import FileUploader
from kimi.legacy.transport import Transport
from kimi.attachments import DEFAULT_MAX_BYTES, Fetcher, Payload


class ConnectUploader(FileUploader):
    """Fetches attachments and turns them into Kimi file ids for `message.blocks`."""

    def __init__(self, *, base_url: str, session: requests.Session, connect_timeout: float = 10,
                 read_timeout: float = 120, max_bytes: int = DEFAULT_MAX_BYTES, allow_private: bool = False,
                 parse_timeout: float = 60):
        super().__init__(Transport(base_url=base_url, connect_timeout=connect_timeout, read_timeout=read_timeout,
                                   session=session), parse_timeout=parse_timeout)
        self.fetcher = Fetcher(max_bytes=max_bytes, connect_timeout=connect_timeout, read_timeout=read_timeout,
                               allow_private=allow_private)

    def fetch_newest(self, chat: ChatRequest) -> list[tuple[Payload, str]]:
        """(bytes, upload kind) of the newest user message's attachments: earlier ones were answered
        already, or are described in the folded history. BadRequest (400) for a bad or refused one."""
        last = next((m for m in reversed(chat.messages) if m.role == "user"), None)
        return [(self.fetcher.fetch(attachment), "image" if attachment.kind == "image" else "file")
                for attachment in (last.attachments if last else ())]

    def upload_all(self, payloads: list[tuple[Payload, str]], token: str, user_id: str) -> list[str]:
        """The Kimi file id of each payload, in order."""
        access = Access(token=token, user_id=user_id, expires_at=0)
        return [self.upload(payload, kind, access)["id"] for payload, kind in payloads]

    def upload(self, payload: Payload, kind: str, access: Access, chat_id: str = "") -> dict[str, Any]:
        """Kimi's file object, with the A.13 bodies (they carry the size and object name)."""
        headers = self.transport.headers(access.token, access.user_id)
        headers["Cookie"] = f"kimi-auth={access.token}"  # A.13: the web client sends the cookie too
        size = len(payload.data)
        signed = self.transport.call_json("POST", "/api/pre-sign-url", headers,
                                          json={"action": kind, "name": payload.name, "size": size})
        if not isinstance(signed, dict) or not signed.get("url"):
            raise errors.ProtocolError("Kimi's pre-sign answer has no upload URL.", code="bad_presign")
        self._put(signed["url"], payload)
        file = self.transport.call_json("POST", "/api/file", headers, json={
            "type": kind, "name": payload.name, "size": size, "file_id": signed.get("file_id", ""),
            "object_name": signed.get("object_name", "")})
        if not isinstance(file, dict) or not file.get("id"):
            raise errors.ProtocolError("Kimi's file registration returned no file id.", code="bad_file")
        if kind != "image" and file.get("status") != "parsed":
            self._wait_parsed(file, headers)  # documents are read before use (A.13 step 4)
        return file
