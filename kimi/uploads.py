"""Uploading an attachment to Kimi. The 2026 web page's way (kimi-protocol-2026.md B.5): one multipart POST,
then polling the parse progress. The older steps both paths know (kimi-protocol.md A.13, B.6): pre-sign, PUT
the bytes, register the file, wait for Kimi to parse it; each path brings their request bodies
(kimi/connect/uploads.py, kimi/legacy/files.py). Attachments are fetched by kimi/attachments.py.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional

from kimi import errors
from kimi.attachments import Fetcher, Payload
from kimi.events import ChatRequest
from kimi.rest import Transport, read_chunks
from kimi.sse import SSEDecoder
from kimi.transport import Endpoints, Faults

_FAILED = ("failed", "error", "parse_failed")
# GetFileParseProgress (B.5): PROCESSING until SUCCESS (an image: about a second); the failure names are
# unknown, so any other status is a failure.
_PROCESSING, _SUCCESS = "PROCESS_STATUS_PROCESSING", "PROCESS_STATUS_SUCCESS"
POLL_SECONDS = 0.5
# A pre-signed storage URL is Kimi's host, not the caller's; it needs no Kimi headers (A.13).
_PUT_FAULTS = Faults(
    lambda: errors.UpstreamTimeout("Uploading the attachment to Kimi timed out.", code="upload_timeout"),
    lambda: errors.UpstreamUnavailable("Kimi's file storage could not be reached.", code="upload_failed"),
    logged="cannot upload to Kimi's storage")


def fetch_newest(fetcher: Fetcher, chat: ChatRequest) -> list[tuple[Payload, str]]:
    """(bytes, Kimi's upload kind) of the newest user message's attachments: earlier ones were answered
    already, or are described in the folded history. BadRequest (400) for a bad or refused one, PayloadTooLarge
    (413) over the request's caps."""
    attachments = chat.newest_attachments
    return [(payload, "image" if attachment.kind == "image" else "file")
            for payload, attachment in zip(fetcher.fetch_all(attachments), attachments)]


class _Body:
    """A payload's file as a request body, read in blocks as it is sent. Its length is told here: requests
    would otherwise ask the file for its descriptor, which moves a spooled file to disk."""

    def __init__(self, payload: Payload):
        self._file, self._size = payload.file, payload.size

    def __len__(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)


class Uploader:
    """Uploads over one host's REST transport; `parse_timeout` bounds the wait for Kimi to read a file."""

    def __init__(self, transport: Transport, endpoints: Endpoints, *, parse_timeout: float = 60):
        self.transport = transport
        self.endpoints = endpoints
        self.parse_timeout = parse_timeout

    def upload_file(self, payload: Payload, headers: dict[str, str]) -> Optional[str]:
        """The id of the file, uploaded the 2026 way and parsed by Kimi (B.5); None when the host does not
        know that way (HTTP 404), so the caller takes the older one."""
        answer = self.transport.call_json_if_served(
            "POST", self.endpoints.file_upload_path, headers,
            files={"file": (payload.name, payload.read(), payload.mime)})
        if answer is None:
            return None
        file = answer.get("file") if isinstance(answer, dict) else None
        if not isinstance(file, dict) or not file.get("id"):
            raise errors.ProtocolError("Kimi's file upload answer has no file id.", code="bad_file")
        self._await_progress(str(file["id"]), payload.name, headers)
        return str(file["id"])

    def _await_progress(self, file_id: str, name: str, headers: dict[str, str]) -> None:
        """Poll GetFileParseProgress until the file is parsed; UpstreamTimeout past parse_timeout,
        BadRequest when Kimi cannot read it."""
        deadline = time.monotonic() + self.parse_timeout
        timeout = (self.transport.connect_timeout, min(self.transport.timeout[1], self.parse_timeout))
        file = {"id": file_id, "name": name}
        while True:
            answer = self.transport.call_json("POST", self.endpoints.file_progress_path, headers,
                                              timeout=timeout, json={"file_ids": [file_id]})
            status = _progress_status(answer, file_id)
            if status == _SUCCESS:
                return
            if status not in (_PROCESSING, None):  # None: not listed yet, as good as processing
                raise _unreadable(file)
            left = deadline - time.monotonic()
            if left <= 0:
                raise _parse_timeout(file, self.parse_timeout)
            time.sleep(min(POLL_SECONDS, left))

    def upload(self, payload: Payload, headers: dict[str, str], pre_sign: dict[str, Any],
               register: Callable[[dict[str, Any]], dict[str, Any]], *, is_read_awaited: bool) -> dict[str, Any]:
        """Kimi's file object for the uploaded bytes. `pre_sign` is the pre-sign body, `register(signed)`
        the registration body made from the pre-sign answer; with `is_read_awaited`, a file Kimi has not
        parsed yet is waited for."""
        signed = self.transport.call_json("POST", self.endpoints.pre_sign_path, headers, json=pre_sign)
        if not isinstance(signed, dict) or not signed.get("url"):
            raise errors.ProtocolError("Kimi's pre-sign answer has no upload URL.", code="bad_presign")
        self._put(signed["url"], payload)
        file = self.transport.call_json("POST", self.endpoints.file_path, headers, json=register(signed))
        if not isinstance(file, dict) or not file.get("id"):
            raise errors.ProtocolError("Kimi's file registration returned no file id.", code="bad_file")
        if is_read_awaited and file.get("status") != "parsed":
            self._wait_parsed(file, headers)
        return file

    def _put(self, url: str, payload: Payload) -> None:
        payload.file.seek(0)
        with _PUT_FAULTS:
            response = self.transport.session.put(url, data=_Body(payload), headers={"Content-Type": payload.mime},
                                                  timeout=self.transport.timeout)
        with response:
            if not 200 <= response.status_code < 300:
                raise errors.UpstreamUnavailable(f"Kimi's file storage answered HTTP {response.status_code}.",
                                                 code="upload_failed")

    def _wait_parsed(self, file: dict[str, Any], headers: dict[str, str]) -> None:
        """Read parse_process's SSE until `parsed`; the stream is abandoned once parse_timeout passes."""
        deadline = time.monotonic() + self.parse_timeout
        timeout = (self.transport.connect_timeout, min(self.transport.timeout[1], self.parse_timeout))
        response = self.transport.send("POST", self.endpoints.parse_progress_path, headers, timeout=timeout,
                                       json={"ids": [file["id"]], "timeout": int(self.parse_timeout * 1000)})
        decoder = SSEDecoder()
        faults = Faults(lambda: _parse_timeout(file, self.parse_timeout),
                        lambda: errors.UpstreamUnavailable("Kimi cut the connection while reading the file.",
                                                           code="upload_failed"))
        with response, faults:
            for chunk in read_chunks(response):
                if any(_is_parsed(data, file) for data in decoder.feed(chunk)):
                    return
                if time.monotonic() > deadline:
                    raise _parse_timeout(file, self.parse_timeout)
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
        raise _unreadable(file)
    return status == "parsed"


def _unreadable(file: dict[str, Any]) -> errors.BadRequest:
    return errors.BadRequest(f"Kimi could not read the attachment {file.get('name') or '(unnamed)'}.",
                             code="attachment_unreadable")


def _progress_status(answer: Any, file_id: str) -> Optional[str]:
    """The status GetFileParseProgress gives `file_id` (camel or snake keys), None when it names none."""
    progresses = answer.get("progresses") if isinstance(answer, dict) else None
    for progress in progresses if isinstance(progresses, list) else ():
        if isinstance(progress, dict) and (progress.get("fileId") or progress.get("file_id")) == file_id:
            status = progress.get("status")
            return status if isinstance(status, str) else None
    return None
