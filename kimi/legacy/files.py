"""Attachments on the legacy path (docs/kimi-protocol.md B.6): the request bodies its upload steps send
(the steps are kimi/uploads.py's, shared with the Connect path), and the `refs`/`refs_file` entries
that describe an uploaded file to the completion.
"""
from __future__ import annotations

from typing import Any

from kimi.attachments import Payload
from kimi.legacy.auth import Access
from kimi.uploads import Uploader


def upload_file(uploader: Uploader, payload: Payload, kind: str, access: Access, chat_id: str) -> dict[str, Any]:
    """Kimi's file object for the uploaded bytes; `kind` is "image" or "file"."""
    def register(signed: dict[str, Any]) -> dict[str, Any]:
        if kind == "image":
            return {"type": "image", "file_id": signed.get("file_id", ""), "name": payload.name}
        return {"type": "file", "name": payload.name, "object_name": signed.get("object_name", ""),
                "file_id": "", "chat_id": chat_id}

    headers = uploader.transport.headers(access.token, access.user_id)
    return uploader.upload(payload, headers, {"action": kind, "name": payload.name}, register, is_read_awaited=True)


def refs_entry(file: dict[str, Any]) -> dict[str, Any]:
    """The `refs_file` item the web client sends for an uploaded file (B.6 step 5)."""
    return {"detail": file, "done": True, "file": {}, "file_info": file, "id": file["id"],
            "name": file.get("name", ""), "parse_status": "success", "size": file.get("size", 0),
            "upload_progress": 100, "upload_status": "success"}
