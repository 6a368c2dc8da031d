"""Attachments (kimi.events.Attachment) as bytes + mime type + file name, ready to upload to Kimi:
`data:` URIs are decoded, http(s) URLs fetched with a size limit and a timeout. URLs that resolve
to loopback, private, link-local or reserved addresses are refused, so callers cannot make the
gateway reach into its own network (server-side request forgery).
"""
from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import logging
import mimetypes
import posixpath
import socket
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Optional, Union

import requests
import requests.adapters
import urllib3
import urllib3.connection

from kimi.errors import BadRequest, PayloadTooLarge
from kimi.events import Attachment
from kimi.transport import shared_session

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024  # the limit kimi-free-api used (docs/kimi-protocol.md B.6)
DEFAULT_MAX_COUNT = 8
MAX_REDIRECTS = 5
READ_SIZE = 64 * 1024
SPOOL_BYTES = 1024 * 1024  # a fetched attachment larger than this waits for its upload on disk


@dataclass(frozen=True)
class Payload:
    """An attachment ready to upload: its bytes in `file` (read from the start; close() when done)."""

    file: BinaryIO
    size: int
    mime: str
    name: str

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()

    @classmethod
    def of_bytes(cls, data: bytes, mime: str, name: str) -> "Payload":
        """A payload whose bytes are in memory already (a data: URI, the prompt as a file)."""
        return cls(io.BytesIO(data), len(data), mime, name)


class Fetcher:
    """Turns attachments into Payloads. `allow_private` lifts the address check (tests, LAN setups)."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, connect_timeout: float = 10,
                 read_timeout: float = 30, total_timeout: float = 120, allow_private: bool = False,
                 max_count: int = DEFAULT_MAX_COUNT, max_total_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self.max_count = max_count  # attachments per request
        self.max_total_bytes = max_total_bytes  # all of one request's attachments together
        self.timeout = (connect_timeout, read_timeout)
        self.total_timeout = total_timeout
        self.allow_private = allow_private
        self.session = shared_session()
        if not allow_private:
            # Checked twice: by name before the request (clear error, also when a proxy connects for
            # us), and by address when the socket opens, so a name that resolves to a public address
            # for the check and a private one a moment later (DNS rebinding) is still refused.
            self.session.mount("http://", PublicOnlyAdapter())
            self.session.mount("https://", PublicOnlyAdapter())

    def fetch_all(self, attachments: tuple[Attachment, ...]) -> list[Payload]:
        """One request's attachments, fetched one after another within the request's budget: PayloadTooLarge
        (413) for more than `max_count` of them, or more than `max_total_bytes` together."""
        if len(attachments) > self.max_count:
            raise PayloadTooLarge(f"A request may carry at most {self.max_count} attachments (MAX_ATTACHMENTS).",
                                  code="too_many_attachments")
        payloads, left = [], self.max_total_bytes
        try:
            for attachment in attachments:
                payloads.append(self.fetch(attachment, budget=left))
                left -= payloads[-1].size
        except BaseException:
            close_all(payloads)  # the ones fetched before the failing one
            raise
        return payloads

    def fetch(self, attachment: Attachment, budget: Optional[int] = None) -> Payload:
        """The attachment's bytes; BadRequest (400) when it is malformed, unreachable, refused or too large,
        PayloadTooLarge (413) when it outgrows what is left of the request's `budget`."""
        limit = self.max_bytes if budget is None or budget >= self.max_bytes else _Budget(budget)
        url = attachment.url.strip()
        if url[:5].lower() == "data:":
            data, mime = self._decode_data_uri(url, limit)
            # Decoded from the request body, which is in memory already and at most MAX_BODY_MB.
            return Payload.of_bytes(data, mime, _file_name(attachment, "", mime))
        if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
            raise BadRequest("An attachment must be an http(s) URL or a base64 data: URI.", code="bad_attachment")
        file, size, mime, final_url = self._download(url, limit)
        return Payload(file, size, mime, _file_name(attachment, final_url, mime))

    def _decode_data_uri(self, uri: str, limit: int) -> tuple[bytes, str]:
        header, comma, body = uri[5:].partition(",")
        if not comma:
            raise BadRequest("The data: URI has no comma before its data.", code="bad_attachment")
        params = header.split(";")
        mime = params[0].strip().lower() or "application/octet-stream"
        if "base64" not in (p.strip().lower() for p in params[1:]):
            data = urllib.parse.unquote_to_bytes(body)
        else:
            if len(body) // 4 * 3 > limit:  # refuse before decoding a huge string
                raise _too_large(limit)
            try:
                data = base64.b64decode("".join(body.split()), validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("The data: URI is not valid base64.", code="bad_attachment") from None
        if len(data) > limit:
            raise _too_large(limit)
        return data, mime

    def _download(self, url: str, limit: int) -> tuple[BinaryIO, int, str, str]:
        # Redirects are followed by hand so every hop's address is checked before connecting.
        deadline = time.monotonic() + self.total_timeout
        for _ in range(MAX_REDIRECTS + 1):
            self._check_host(url)
            try:
                response = self.session.get(url, stream=True, allow_redirects=False, timeout=self.timeout,
                                            headers={"Accept-Encoding": "identity"})
            except RefusedAddress:
                raise _refused(url) from None
            except requests.RequestException as exc:
                raise _unreachable(url, type(exc).__name__) from None
            with response:
                if response.is_redirect and response.headers.get("Location"):
                    url = urllib.parse.urljoin(url, response.headers["Location"])
                    continue
                if response.status_code != 200:
                    raise _unreachable(url, f"HTTP {response.status_code}")
                file, size = self._read_body(response, url, deadline, limit)
                mime = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                return file, size, mime or _guess_mime(url), url
        raise _unreachable(url, f"more than {MAX_REDIRECTS} redirects")

    def _read_body(self, response: requests.Response, url: str, deadline: float, limit: int) -> tuple[BinaryIO, int]:
        """The body in a temporary file, which stays in memory up to SPOOL_BYTES and goes to disk beyond:
        a large attachment is never held whole in memory, nor twice."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        body, size = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES), 0
        try:
            for chunk in response.iter_content(READ_SIZE):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                body.write(chunk)
                if time.monotonic() > deadline:  # a slow drip must not hold the request forever
                    raise _unreachable(url, "download took too long")
        except requests.RequestException as exc:
            body.close()
            raise _unreachable(url, type(exc).__name__) from None
        except BaseException:
            body.close()
            raise
        body.seek(0)
        return body, size

    def _check_host(self, url: str) -> None:
        if self.allow_private:
            return
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        if not host:
            raise BadRequest("The attachment URL has no host.", code="bad_attachment")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, ValueError):
            raise _unreachable(url, "host not found") from None
        if any(is_refused_address(info[4][0]) for info in infos):
            raise _refused(url)



class _Budget(int):
    """What is left of one request's attachment bytes, when it is tighter than the limit per attachment."""


def _too_large(limit: int) -> Union[BadRequest, PayloadTooLarge]:
    if isinstance(limit, _Budget):
        return PayloadTooLarge("The request's attachments together are larger than its limit (MAX_ATTACHMENTS_MB).",
                               code="attachments_too_large")
    size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    return BadRequest(f"The attachment is larger than the {size} limit.", code="attachment_too_large")


def close_all(payloads: Iterable[Payload]) -> None:
    """Close every payload's file (a spilled one is deleted from disk)."""
    for payload in payloads:
        payload.close()


def is_refused_address(address: str) -> bool:
    """Whether an IP address is loopback, private, link-local, reserved or otherwise not public."""
    ip = ipaddress.ip_address(address.split("%")[0])  # drop an IPv6 zone id
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
        ip = mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast
            or ip.is_unspecified or not ip.is_global)


class RefusedAddress(Exception):
    """Raised from inside urllib3 when a socket would open to a refused address. Not an OSError, so
    urllib3 neither retries nor rewraps it and it reaches Fetcher unchanged."""


class _PublicOnlyConnection:
    """Mixin for urllib3 connections: resolve, check every address, then connect to a checked one."""

    def _new_conn(self):
        host = self._dns_host  # urllib3's name for the host it resolves; `host` is derived from it
        infos = socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)
        addresses = [info[4][0] for info in infos]
        if any(is_refused_address(address) for address in addresses):
            raise RefusedAddress(host)
        self._dns_host = addresses[0]  # TLS still verifies `host`: it is restored before the handshake
        try:
            return super()._new_conn()
        finally:
            self._dns_host = host


class _HTTPConnection(_PublicOnlyConnection, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_PublicOnlyConnection, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class PublicOnlyAdapter(requests.adapters.HTTPAdapter):
    """Mount on a session so none of its direct connections reaches a refused address."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def _refused(url: str) -> BadRequest:
    host = urllib.parse.urlsplit(url).hostname or "?"
    log.warning("refused an attachment URL on a private address")
    return BadRequest(f"Attachment URL refused: private address ({host}).", code="private_address")


def _unreachable(url: str, why: str) -> BadRequest:
    host = urllib.parse.urlsplit(url).hostname or "?"
    return BadRequest(f"The attachment URL could not be fetched from {host} ({why}).",
                      code="attachment_unreachable")


def _guess_mime(url: str) -> str:
    return mimetypes.guess_type(urllib.parse.urlsplit(url).path)[0] or "application/octet-stream"


def _file_name(attachment: Attachment, url: str, mime: str) -> str:
    """The caller's name, else the URL's last path segment, else a name from the kind and mime type."""
    if attachment.name:
        return attachment.name
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path)) if url else ""
    if name and "." in name:
        return name
    extension = mimetypes.guess_extension(mime) or (".png" if attachment.kind == "image" else ".bin")
    return (name or attachment.kind) + extension
