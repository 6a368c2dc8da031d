"""Uploading an attachment to Kimi's legacy API (docs/kimi-protocol.md B.6): pre-sign, PUT the bytes,
register the file, wait for Kimi to parse it, and describe it as `refs`/`refs_file` entries.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from kimi import errors
from kimi.legacy.auth import Access
from kimi.legacy.sse import SSEDecoder
from kimi.legacy.transport import CONNECTION_FAULTS, TIMEOUTS, Transport, read_chunks
from kimi.attachments import Payload

log = logging.getLogger(__name__)

_FAILED = ("failed", "error", "parse_failed")


class FileUploader:
    """`parse_timeout` bounds the wait for Kimi to read a file (B.6 step 4)."""

    def __init__(self, transport: Transport, *, parse_timeout: float = 60):
        self.transport = transport
        self.parse_timeout = parse_timeout

    def upload(self, payload: Payload, kind: str, access: Access, chat_id: str) -> dict[str, Any]:
        """Kimi's file object for the uploaded bytes; `kind` is "image" or "file"."""
        headers = self.transport.headers(access.token, access.user_id)
        signed = self.transport.call_json("POST", "/api/pre-sign-url", headers,
                                          json={"action": kind, "name": payload.name})
        if not isinstance(signed, dict) or not signed.get("url"):
            raise errors.ProtocolError("Kimi's pre-sign answer has no upload URL.", code="bad_presign")
        self._put(signed["url"], payload)
        if kind == "image":
            body = {"type": "image", "file_id": signed.get("file_id", ""), "name": payload.name}
        else:
            body = {"type": "file", "name": payload.name, "object_name": signed.get("object_name", ""),
                    "file_id": "", "chat_id": chat_id}
        file = self.transport.call_json("POST", "/api/file", headers, json=body)
        if not isinstance(file, dict) or not file.get("id"):
            raise errors.ProtocolError("Kimi's file registration returned no file id.", code="bad_file")
        if file.get("status") != "parsed":
            self._wait_parsed(file, headers)
        return file

    def _put(self, url: str, payload: Payload) -> None:
        # A pre-signed storage URL: no Kimi headers needed (A.13), and it is Kimi's host, not the caller's.
        try:
            response = self.transport.session.put(url, data=payload.data, headers={"Content-Type": payload.mime},
                                                  timeout=self.transport.timeout)
        except TIMEOUTS:
            raise errors.UpstreamTimeout("Uploading the attachment to Kimi timed out.",
                                         code="upload_timeout") from None
        except CONNECTION_FAULTS as exc:
            log.warning("cannot upload to Kimi's storage: %s", type(exc).__name__)
            raise errors.UpstreamUnavailable("Kimi's file storage could not be reached.",
                                             code="upload_failed") from None
        with response:
            if not 200 <= response.status_code < 300:
                raise errors.UpstreamUnavailable(f"Kimi's file storage answered HTTP {response.status_code}.",
                                                 code="upload_failed")

    def _wait_parsed(self, file: dict[str, Any], headers: dict[str, str]) -> None:
        """Read parse_process's SSE until `parsed`; the stream is abandoned once parse_timeout passes."""
        deadline = time.monotonic() + self.parse_timeout
        timeout = (self.transport.connect_timeout, min(self.transport.timeout[1], self.parse_timeout))
        response = self.transport.send("POST", "/api/file/parse_process", headers, timeout=timeout,
                                       json={"ids": [file["id"]], "timeout": int(self.parse_timeout * 1000)})
        decoder = SSEDecoder()
        with response:
            try:
                for chunk in read_chunks(response):
                    if any(_is_parsed(data, file) for data in decoder.feed(chunk)):
                        return
                    if time.monotonic() > deadline:
                        raise _parse_timeout(file, self.parse_timeout)
            except TIMEOUTS:
                raise _parse_timeout(file, self.parse_timeout) from None
            except CONNECTION_FAULTS:
                raise errors.UpstreamUnavailable("Kimi cut the connection while reading the file.",
                                                 code="upload_failed") from None
        # KFA only waits for the call to succeed (B.6): a stream that ends without `parsed` will do,
        # unless its last words were a failure.
        for data in decoder.finish():
            _is_parsed(data, file)


def _parse_timeout(file: dict[str, Any], seconds: float) -> errors.UpstreamTimeout:
    return errors.UpstreamTimeout(f"Kimi did not finish reading {file.get('name') or 'the file'} within "
                                  f"{seconds:g} s.", code="parse_timeout")


def _is_parsed(data: str, file: dict[str, Any]) -> bool:
    """True once the file is parsed; BadRequest when Kimi says it cannot read it."""
    try:
        status = json.loads(data)
    except ValueError:
        return False
    status = status.get("status") if isinstance(status, dict) else None
    if status in _FAILED:
        raise errors.BadRequest(f"Kimi could not read the attachment {file.get('name') or '(unnamed)'}.",
                                code="attachment_unreadable")
    return status == "parsed"


def refs_entry(file: dict[str, Any]) -> dict[str, Any]:
    """The `refs_file` item the web client sends for an uploaded file (B.6 step 5)."""
    return {"detail": file, "done": True, "file": {}, "file_info": file, "id": file["id"],
            "name": file.get("name", ""), "parse_status": "success", "size": file.get("size", 0),
            "upload_progress": 100, "upload_status": "success"}
