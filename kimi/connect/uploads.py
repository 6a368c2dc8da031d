"""Attachments on the Connect path (docs/kimi-protocol.md A.13): the newest user turn's images and files,
fetched by kimi/attachments.py (size limit, private-address refusal) and uploaded to Kimi's web host by
the steps of kimi/uploads.py, with this path's request bodies.
"""
from __future__ import annotations

from typing import Any

from kimi.attachments import Payload
from kimi.uploads import Uploader


def upload_all(uploader: Uploader, payloads: list[tuple[Payload, str]], token: str, user_id: str) -> list[str]:
    """The Kimi file id of each payload, in order."""
    headers = uploader.transport.headers(token, user_id)
    headers["Cookie"] = f"kimi-auth={token}"  # A.13: the web client sends the cookie too
    return [upload(uploader, payload, kind, headers)["id"] for payload, kind in payloads]


def upload(uploader: Uploader, payload: Payload, kind: str, headers: dict[str, str]) -> dict[str, Any]:
    """Kimi's file object, with the A.13 bodies (they carry the size and object name); documents are
    read by Kimi before use (A.13, last line), images are not."""
    size = payload.size

    def register(signed: dict[str, Any]) -> dict[str, Any]:
        return {"type": kind, "name": payload.name, "size": size, "file_id": signed.get("file_id", ""),
                "object_name": signed.get("object_name", "")}

    return uploader.upload(payload, headers, {"action": kind, "name": payload.name, "size": size}, register,
                           is_read_awaited=kind != "image")
