"""Images and files on the Connect path: fetched with kimi/attachments.py's limits, uploaded the 2026 way
(kimi-protocol-2026.md B.5: multipart, then parse progress) or, where that is unknown, by the older steps
(docs/kimi-protocol.md A.13: pre-sign, PUT, register), and attached after the text block, in every format."""
import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic
import openai
import pytest
import requests

from configs.settings import load_models
from kimi.connect.client import KimiClient
from kimi.errors import PayloadTooLarge
from kimi.events import Attachment, ChatRequest, Message
from kimi.models import ModelTable
from kimi.transport import Endpoints
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.turn_gateways"]

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 40
PNG_B64 = base64.b64encode(PNG).decode()
PNG_URI = "data:image/png;base64," + PNG_B64
UPLOAD = "/apiv2-files/file/upload"
PROGRESS = "/apiv2-files/kimi.gateway.file.v1.FileService/GetFileParseProgress"


def steps(kimi):
    """The upload calls and the Chat call, as (path, body) in order."""
    return [(r.path if not r.path.startswith("/upload/") else "PUT", r.body) for r in kimi.requests
            if not r.path.endswith("/DeleteChat")]


def chat_request(kimi):
    return next(r.body for r in reversed(kimi.requests) if r.path.endswith("/Chat"))


def chat_blocks(kimi):
    return chat_request(kimi)["message"]["blocks"]


def image_question(url):
    return [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": url}}]}]


@pytest.fixture
def openai_features(features_gateway, user_token):
    with openai.OpenAI(base_url=features_gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        yield client


def test_an_openai_image_is_uploaded_the_2026_way_and_attached_after_the_text(turn_kimi, openai_features):
    openai_features.chat.completions.create(model="moonshot-v1-8k-vision-preview", messages=image_question(PNG_URI))
    (file_id,) = turn_kimi.files
    assert steps(turn_kimi)[:2] == [(UPLOAD, None), (PROGRESS, {"file_ids": [file_id]})]
    assert turn_kimi.files[file_id]["name"] == "image.png"  # the multipart part `file`, under its own name
    assert list(turn_kimi.uploads.values()) == [(PNG, "image/png")]
    assert chat_blocks(turn_kimi) == [{"message_id": "", "text": {"content": "What is this?"}}, {"file": {"id": file_id}}]
    # This gateway deletes each chat right after its reply: the DeleteChat call may already be recorded.
    assert chat_request(turn_kimi)["scenario"] == "SCENARIO_K2D5"


def test_where_the_2026_upload_is_unknown_the_older_steps_serve(turn_kimi, openai_features):
    turn_kimi.new_uploads_missing = True
    openai_features.chat.completions.create(model="moonshot-v1-8k-vision-preview", messages=image_question(PNG_URI))
    (file_id,), (object_name,) = turn_kimi.files, turn_kimi.uploads
    assert steps(turn_kimi)[:4] == [
        (UPLOAD, None),
        ("/api/pre-sign-url", {"action": "image", "name": "image.png", "size": len(PNG)}),
        ("PUT", None),
        ("/api/file", {"type": "image", "name": "image.png", "size": len(PNG), "file_id": "fid-" + object_name[4:],
                       "object_name": object_name})]
    assert list(turn_kimi.uploads.values()) == [(PNG, "image/png")]
    assert chat_blocks(turn_kimi)[1:] == [{"file": {"id": file_id}}]


def test_an_anthropic_base64_image_is_uploaded(turn_kimi, features_gateway, user_token):
    with anthropic.Anthropic(base_url=features_gateway.url, api_key=user_token, max_retries=0) as client:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
            {"type": "text", "text": "Describe it."}]}])
    (file_id,) = turn_kimi.files
    assert chat_blocks(turn_kimi)[1:] == [{"file": {"id": file_id}}]


def test_a_gemini_inline_image_is_uploaded(turn_kimi, features_gateway, user_token):
    response = requests.post(features_gateway.url + "/v1beta/models/gemini-2.5-flash:generateContent",
                             headers={"x-goog-api-key": user_token}, timeout=10,
                             json={"contents": [{"role": "user", "parts": [
                                 {"text": "Describe it."}, {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}]}]})
    assert response.status_code == 200
    assert list(turn_kimi.uploads.values()) == [(PNG, "image/png")]


def test_only_the_newest_user_turns_attachments_are_uploaded(turn_kimi, openai_features):
    history = image_question(PNG_URI) + [{"role": "assistant", "content": "A dot."},
                                         {"role": "user", "content": "Thanks."}]
    openai_features.chat.completions.create(model="kimi-k2.5-instant", messages=history)
    assert turn_kimi.uploads == {} and len(chat_blocks(turn_kimi)) == 1


class _Site(str):
    def __new__(cls, url, hits):
        site = super().__new__(cls, url)
        site.hits = hits
        return site


@pytest.fixture
def image_site():
    """A web server on loopback holding /cat.png (the features gateway allows private URLs); `.hits`
    lists the paths it was asked for."""
    hits = []

    class Files(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            self.send_response(200 if self.path == "/cat.png" else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield _Site(f"http://127.0.0.1:{server.server_address[1]}", hits)
    server.shutdown()
    server.server_close()
    thread.join()


def test_an_image_url_is_fetched_then_uploaded_under_its_own_name(turn_kimi, openai_features, image_site):
    openai_features.chat.completions.create(model="kimi-k2.5-instant", messages=image_question(image_site + "/cat.png"))
    (file,) = turn_kimi.files.values()
    assert file["name"] == "cat.png" and list(turn_kimi.uploads.values()) == [(PNG, "image/png")]


def test_a_private_address_is_refused_before_anything_reaches_kimi(kimi, openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="kimi-k2.5-instant",
                                              messages=image_question("http://127.0.0.1:9/secret.png"))
    assert caught.value.body["code"] == "private_address" and kimi.requests == []


def test_an_attachment_over_the_limit_is_refused(turn_kimi, openai_features):
    big = "data:image/png;base64," + base64.b64encode(b"\x00" * (1024 * 1024 + 1)).decode()
    with pytest.raises(openai.BadRequestError) as caught:
        openai_features.chat.completions.create(model="kimi-k2.5-instant", messages=image_question(big))
    assert caught.value.body["code"] == "attachment_too_large" and "1 MB" in caught.value.message
    assert turn_kimi.requests == []


def test_a_document_goes_by_the_older_steps_as_a_file_where_the_2026_upload_is_unknown(kimi, user_token):
    kimi.new_uploads_missing = True
    client = KimiClient(endpoints=Endpoints(base_url=kimi.url), models=ModelTable(load_models()))
    notes = Attachment("data:text/plain;base64," + base64.b64encode(b"Revenue rose.").decode(), "file", "notes.txt")
    with client.session:
        client.open_chat(ChatRequest("kimi-k2.5-instant", [Message("user", "Summarise.", (notes,))]), user_token).close()
    assert [(r.path, r.body) for r in kimi.requests][1:2] == [
        ("/api/pre-sign-url", {"action": "file", "name": "notes.txt", "size": 13})]
    assert kimi.requests[3].body["type"] == "file" and list(kimi.uploads.values()) == [(b"Revenue rose.", "text/plain")]


def test_more_attachments_than_the_cap_get_413_before_anything_is_fetched(kimi, gateway, user_token):
    content = [{"type": "text", "text": "Compare."}] + [{"type": "image_url", "image_url": {"url": PNG_URI}}] * 9
    response = requests.post(gateway.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {user_token}"},
                             json={"model": "kimi-latest", "messages": [{"role": "user", "content": content}]},
                             timeout=10)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "message": "A request may carry at most 8 attachments (MAX_ATTACHMENTS).", "type": "invalid_request_error",
        "param": None, "code": "too_many_attachments"}
    assert kimi.requests == []


def test_attachments_over_the_requests_total_are_refused_before_any_upload(kimi, user_token):
    client = KimiClient(endpoints=Endpoints(base_url=kimi.url), models=ModelTable(load_models()),
                        max_attachments_bytes=len(PNG) + 10)
    images = tuple(Attachment(PNG_URI, "image") for _ in range(2))
    with client.session, pytest.raises(PayloadTooLarge) as caught:
        client.open_chat(ChatRequest("kimi-k2.5-instant", [Message("user", "Compare.", images)]), user_token)
    assert caught.value.status == 413 and caught.value.code == "attachments_too_large"
    assert kimi.requests == []


def _own_client(gateway, token):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=token, max_retries=0)


def test_an_own_token_kimi_rejects_gets_no_attachment_fetched(turn_kimi, features_gateway, image_site):
    token = make_jwt(sub="selfmadeuser00000001")
    turn_kimi.rejected_tokens.add(token)
    with _own_client(features_gateway, token) as client, pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="kimi-k2.5-instant", messages=image_question(image_site + "/cat.png"))
    assert caught.value.body["code"] == "invalid_token"
    assert image_site.hits == [] and turn_kimi.probes == [token] and turn_kimi.uploads == {}


def test_kimis_acceptance_of_an_own_token_is_asked_once_then_remembered(turn_kimi, features_gateway, image_site):
    token = make_jwt(sub="probeduser0000000001")
    with _own_client(features_gateway, token) as client:
        for _ in range(2):
            client.chat.completions.create(model="kimi-k2.5-instant", messages=image_question(image_site + "/cat.png"))
    assert turn_kimi.probes == [token] and image_site.hits == ["/cat.png", "/cat.png"]
