"""Attachments: kimi/attachments.py (data URIs, URL fetching with limits, the private-address refusal) and
the legacy upload steps (pre-sign -> PUT -> register -> parse) against the fake legacy upstream."""
import base64
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from configs.settings import load_models
from kimi import errors
from kimi.events import Attachment, ChatRequest, Message, TextDelta
from kimi.legacy.client import LegacyClient
from kimi.models import ModelTable
from kimi.attachments import Fetcher, Payload, PublicOnlyAdapter, RefusedAddress, is_refused_address
from kimi.transport import Endpoints

pytest_plugins = ["tests.support.legacy_fixtures"]  # legacy (this module's own fake upstream)

REFRESH = "rt-uploads-test-token-1"
MODELS = ModelTable(load_models())
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 40
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
DOC = "Quarterly notes: revenue rose, costs fell.\n".encode()
BIG = bytes(range(256)) * 5000  # past the fetcher's 1 MiB in memory


class _Files(BaseHTTPRequestHandler):
    """The test's own web server: the files an attachment URL points at."""

    protocol_version = "HTTP/1.1"
    hits = []

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/img/cat.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path in ("/img/cat.png", "/docs/notes.txt"):
            body, mime = (PNG, "image/png") if self.path.endswith(".png") else (DOC, "text/plain; charset=utf-8")
            self._send(200, body, mime)
        elif self.path == "/big.bin":
            self._send(200, BIG, "application/octet-stream")
        elif self.path == "/endless":  # no Content-Length: only the streaming limit can stop it
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status, body, mime):
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _FilesServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # the fetcher hanging up on /endless is expected
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def files_url():
    server = _FilesServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def hits():
    _Files.hits.clear()
    return _Files.hits


def _opened(payload: Payload) -> tuple:
    """What a payload holds, its file closed."""
    with payload.file:
        return payload.read(), payload.size, payload.mime, payload.name


def test_a_base64_data_uri_is_decoded():
    assert _opened(Fetcher().fetch(Attachment(PNG_URI))) == (PNG, len(PNG), "image/png", "image.png")


def test_a_plain_data_uri_is_percent_decoded():
    payload = Fetcher().fetch(Attachment("data:text/plain,hello%20world", kind="file", name="hi.txt"))
    assert _opened(payload) == (b"hello world", 11, "text/plain", "hi.txt")


@pytest.mark.parametrize("url, words", [("data:image/png;base64,@@@", "not valid base64"),
                                        ("data:image/png;base64", "no comma"),
                                        ("ftp://files.example/cat.png", "must be an http")])
def test_malformed_attachments_are_bad_requests(url, words):
    with pytest.raises(errors.BadRequest, match=words):
        Fetcher().fetch(Attachment(url))


def test_a_url_is_fetched_with_its_type_and_name(files_url, hits):
    payload = Fetcher(allow_private=True).fetch(Attachment(files_url + "/docs/notes.txt", kind="file"))
    assert _opened(payload) == (DOC, len(DOC), "text/plain", "notes.txt") and hits == ["/docs/notes.txt"]


def test_redirects_are_followed(files_url, hits):
    assert _opened(Fetcher(allow_private=True).fetch(Attachment(files_url + "/redirect")))[0] == PNG
    assert hits == ["/redirect", "/img/cat.png"]


@pytest.mark.parametrize("path, limit, words", [
    ("/img/cat.png", 10, "larger than the"),  # refused from Content-Length, body unread
    ("/endless", 100_000, "larger than the"),  # refused while streaming
    ("/missing", 10_000, r"could not be fetched from 127\.0\.0\.1 \(HTTP 404\)"),
])
def test_fetch_failures_are_bad_requests(files_url, path, limit, words):
    with pytest.raises(errors.BadRequest, match=words):
        Fetcher(allow_private=True, max_bytes=limit).fetch(Attachment(files_url + path))


def test_the_limit_is_named_in_megabytes():
    assert Fetcher().max_bytes == 100 * 1024 * 1024
    with pytest.raises(errors.BadRequest, match="larger than the 1 MB limit"):
        Fetcher(max_bytes=1024 * 1024).fetch(Attachment("data:;base64," + "AAAA" * 350_000))


def test_an_oversized_data_uri_is_refused_before_decoding():
    with pytest.raises(errors.BadRequest, match="larger than") as caught:
        Fetcher(max_bytes=16).fetch(Attachment(PNG_URI))
    assert caught.value.status == 400 and caught.value.code == "attachment_too_large"


def test_an_unreachable_url_is_a_bad_request(files_url):
    with pytest.raises(errors.BadRequest, match="could not be fetched"):
        Fetcher(allow_private=True).fetch(Attachment("http://127.0.0.1:9/cat.png"))


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]", "localhost",
                                  "[::ffff:127.0.0.1]", "0.0.0.0", "192.168.1.20"])
def test_private_addresses_are_refused_before_connecting(files_url, hits, host):
    port = files_url.rsplit(":", 1)[1]  # the test server listens there: a connection would show in hits
    with pytest.raises(errors.BadRequest, match="refused: private address") as caught:
        Fetcher().fetch(Attachment(f"http://{host}:{port}/img/cat.png"))
    assert caught.value.status == 400 and hits == []


def test_the_socket_itself_refuses_private_addresses(files_url, hits):
    # The check at connect time is what defeats DNS rebinding (a name that turns private after the
    # first lookup): the adapter resolves, checks and connects to the address it checked.
    with requests.Session() as session:
        session.mount("http://", PublicOnlyAdapter())
        with pytest.raises(RefusedAddress):
            session.get(files_url.replace("127.0.0.1", "localhost") + "/img/cat.png", timeout=2)
    assert hits == []


@pytest.mark.parametrize("address, refused", [
    ("93.184.216.34", False), ("8.8.8.8", False), ("2606:4700:4700::1111", False),
    ("100.64.0.1", True), ("fe80::1%eth0", True), ("224.0.0.1", True), ("::ffff:10.0.0.1", True),
    ("fc00::1", True), ("240.0.0.1", True)])
def test_address_classes(address, refused):
    assert is_refused_address(address) is refused


def client_for(legacy, **options):
    return LegacyClient(endpoints=Endpoints(legacy_base_url=legacy.url), models=MODELS, read_timeout=5, **options)


def ask(client, *attachments, history=()):
    message = Message("user", "What is in this?", tuple(attachments))
    stream = client.open_chat(ChatRequest(model="kimi", messages=[*history, message]), REFRESH)
    try:
        return stream, list(stream)
    finally:
        stream.close()


def test_an_image_from_a_data_uri_is_uploaded_and_attached(legacy):
    ask(client_for(legacy), Attachment(PNG_URI))
    (data, mime), = legacy.uploads.values()
    file, = legacy.files.values()
    _, body = legacy.completions[0]
    assert (data, mime) == (PNG, "image/png") and file["type"] == "image" and file["name"] == "image.png"
    assert body["refs"] == [file["id"]]
    assert body["refs_file"] == [{"detail": file, "done": True, "file": {}, "file_info": file, "id": file["id"],
                                  "name": "image.png", "parse_status": "success", "size": len(PNG),
                                  "upload_progress": 100, "upload_status": "success"}]
    assert legacy.paths()[2:7] == ["/api/chat", "/api/pre-sign-url", f"/upload/{file['object_name']}",
                                 "/api/file", "/api/file/parse_process"]


def test_a_document_from_a_url_is_registered_against_the_chat(legacy, files_url):
    stream, events = ask(client_for(legacy, allow_private_urls=True),
                         Attachment(files_url + "/docs/notes.txt", kind="file"))
    file, = legacy.files.values()
    register = next(r for r in legacy.requests if r.path == "/api/file")
    assert register.body == {"type": "file", "name": "notes.txt", "object_name": file["object_name"],
                             "file_id": "", "chat_id": stream.chat_id}
    assert legacy.uploads[file["object_name"]] == (DOC, "text/plain")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "What is in this?"


def test_an_image_from_a_url_is_uploaded(legacy, files_url):
    ask(client_for(legacy, allow_private_urls=True), Attachment(files_url + "/img/cat.png"))
    assert list(legacy.uploads.values()) == [(PNG, "image/png")]


def test_only_the_newest_user_message_attachments_are_sent(legacy):
    earlier = Message("user", "Old picture", (Attachment(PNG_URI, name="old.png"),))
    ask(client_for(legacy), Attachment(PNG_URI, name="new.png"), history=[earlier, Message("assistant", "Nice")])
    assert [f["name"] for f in legacy.files.values()] == ["new.png"]


@pytest.mark.parametrize("attachment, words", [
    (Attachment("http://169.254.169.254/latest/meta-data/"), "refused: private address"),
    (Attachment(PNG_URI), "larger than the 16 bytes limit"),
])
def test_refused_attachments_fail_after_the_token_is_proven_and_before_any_chat_or_upload(legacy, attachment, words):
    with pytest.raises(errors.BadRequest, match=words):
        ask(client_for(legacy, max_upload_bytes=16), attachment)
    assert [r.path for r in legacy.requests] == ["/api/auth/token/refresh", "/api/user"]  # the token exchange only


def test_a_file_kimi_cannot_read_is_a_bad_request_and_the_chat_is_deleted(legacy):
    legacy.parse_behaviour = "failed"
    with pytest.raises(errors.BadRequest, match="could not read the attachment image.png"):
        ask(client_for(legacy), Attachment(PNG_URI))
    assert legacy.deleted_chats == legacy.created_chats and legacy.completions == []


def test_the_parse_wait_has_a_timeout(legacy):
    legacy.parse_behaviour = "hang"
    with pytest.raises(errors.UpstreamTimeout, match="did not finish reading image.png within 0.3 s"):
        ask(client_for(legacy, parse_timeout=0.3), Attachment(PNG_URI))
    assert legacy.deleted_chats == legacy.created_chats


def test_a_fetched_attachment_larger_than_the_spool_waits_on_disk(files_url):
    payload = Fetcher(allow_private=True).fetch(Attachment(files_url + "/big.bin", kind="file"))
    with payload.file:
        assert payload.file._rolled and payload.size == len(BIG)  # SpooledTemporaryFile's mark: moved to disk
        assert payload.read() == BIG


def test_a_file_fetched_to_disk_is_uploaded_whole(legacy, files_url):
    ask(client_for(legacy, allow_private_urls=True), Attachment(files_url + "/big.bin", kind="file"))
    assert list(legacy.uploads.values()) == [(BIG, "application/octet-stream")]
