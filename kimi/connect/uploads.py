"""Attachments on the Connect path: the newest user turn's images and files, fetched by kimi/attachments.py
(size limit, private-address refusal) and uploaded to Kimi's web host by kimi/uploads.py, the 2026 way
(kimi-protocol-2026.md B.5) or, where the host does not know it, by the older steps with this path's
request bodies (docs/kimi-protocol.md A.13). A prompt too long to send inline goes up as a file too.
"""
from __future__ import annotations

from typing import Any

from kimi.attachments import Payload
from kimi.uploads import Uploader

# One gateway sends prompts over 450 000 UTF-8 bytes as a .txt file (kimi-protocol-2026.md B.5 item 5);
# the setting PROMPT_AS_FILE_KB moves the line (0: never).
PROMPT_AS_FILE_BYTES = 439 * 1024
PROMPT_FILE_NAME = "prompt.txt"
PROMPT_POINTER = (f"The whole message is in the attached file {PROMPT_FILE_NAME}, because it is too long to "
                  "send here. Read all of it and answer it as if it had been written here.")


def move_long_prompt(text: str, payloads: list[tuple[Payload, str]],
                     limit: int) -> tuple[str, list[tuple[Payload, str]]]:
    """(the inline text, the payloads to upload): a prompt over `limit` UTF-8 bytes becomes a .txt file
    ahead of the attachments, and the inline text a short pointer to it."""
    data = text.encode()
    if not limit or len(data) <= limit:
        return text, payloads
    return PROMPT_POINTER, [(Payload.of_bytes(data, "text/plain", PROMPT_FILE_NAME), "file"), *payloads]


def upload_all(uploader: Uploader, payloads: list[tuple[Payload, str]], token: str,
               identity: dict[str, str]) -> list[str]:
    """The Kimi file id of each payload, in order. `identity`: the caller's Bearer token and ids, as the
    Chat call carries them; no cookie (kimi-protocol-2026.md B.5)."""
    headers = {**uploader.transport.headers(token), **identity}
    return [upload(uploader, payload, kind, headers) for payload, kind in payloads]


def upload(uploader: Uploader, payload: Payload, kind: str, headers: dict[str, str]) -> str:
    """Kimi's id of the uploaded file: the 2026 way, else (HTTP 404) the older steps."""
    return uploader.upload_file(payload, headers) or _upload_presigned(uploader, payload, kind, headers)["id"]


def _upload_presigned(uploader: Uploader, payload: Payload, kind: str, headers: dict[str, str]) -> dict[str, Any]:
    """Kimi's file object, with the A.13 bodies (they carry the size and object name); documents are
    read by Kimi before use (A.13, last line), images are not."""
    size = payload.size

    def register(signed: dict[str, Any]) -> dict[str, Any]:
        return {"type": kind, "name": payload.name, "size": size, "file_id": signed.get("file_id", ""),
                "object_name": signed.get("object_name", "")}

    return uploader.upload(payload, headers, {"action": kind, "name": payload.name, "size": size}, register,
                           is_read_awaited=kind != "image")
