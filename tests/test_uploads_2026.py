"""The 2026 upload (kimi-protocol-2026.md B.5) through the gateway: who the upload says it is, the wait for
Kimi's parse progress and its deadline, and a prompt too long to send inline going up as prompt.txt."""
import base64

import pytest

pytestmark = pytest.mark.app("served")  # the fake upstream, the server's token, no key

UPLOAD = "/apiv2-files/file/upload"
PROGRESS = "/apiv2-files/kimi.gateway.file.v1.FileService/GetFileParseProgress"
CHAT = "/apiv2/kimi.gateway.chat.v1.ChatService/Chat"
NOTES = "data:text/plain;base64," + base64.b64encode(b"Revenue rose.").decode()


def ask(client, content, token):
    return client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
                       json={"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": content}]})


def with_notes(text="Summarise."):
    return [{"type": "text", "text": text}, {"type": "file", "file": {"file_data": NOTES, "filename": "notes.txt"}}]


def paths(kimi):
    return [r.path for r in kimi.requests]


def test_the_upload_says_who_calls_as_the_chat_does_without_a_cookie(kimi, client, user_token):
    assert ask(client, with_notes(), user_token).status_code == 200
    upload, chat = (next(r.headers for r in kimi.requests if r.path == path) for path in (UPLOAD, CHAT))
    identity = ("Authorization", "X-Msh-Device-Id", "X-Msh-Session-Id", "X-Traffic-Id")
    assert [upload.get(name) for name in identity] == [chat.get(name) for name in identity]
    assert upload["Authorization"] == f"Bearer {user_token}" and "Cookie" not in upload
    assert upload["Content-Type"].startswith("multipart/form-data; boundary=")


def test_the_file_is_attached_once_kimi_has_parsed_it(kimi, client, user_token):
    kimi.parse_progress("PROCESS_STATUS_PROCESSING", "PROCESS_STATUS_PROCESSING")
    assert ask(client, with_notes(), user_token).status_code == 200
    (file_id,) = kimi.files
    assert paths(kimi) == [UPLOAD, PROGRESS, PROGRESS, PROGRESS, CHAT]
    assert kimi.requests[-1].body["message"]["blocks"][1:] == [{"file": {"id": file_id}}]


def test_a_file_kimi_never_finishes_reading_ends_in_a_504_after_the_deadline(kimi, make_app, user_token):
    kimi.parse_progress(then="PROCESS_STATUS_PROCESSING")
    response = ask(make_app("served", upload_parse_timeout=0.2).test_client(), with_notes(), user_token)
    assert response.status_code == 504
    assert response.json["error"]["code"] == "parse_timeout" and "notes.txt" in response.json["error"]["message"]
    assert CHAT not in paths(kimi)


def test_a_file_kimi_cannot_read_is_the_callers_400(kimi, client, user_token):
    kimi.parse_progress("PROCESS_STATUS_FAILED")
    response = ask(client, with_notes(), user_token)
    assert response.status_code == 400 and response.json["error"]["code"] == "attachment_unreadable"
    assert CHAT not in paths(kimi)


def test_a_prompt_over_the_limit_goes_up_as_a_text_file_the_inline_text_points_at(kimi, make_app, user_token):
    long_text = "Lorem ipsum dolor sit amet. " * 80  # 2 240 bytes, over 2 KiB
    assert ask(make_app("served", prompt_as_file_kb=2).test_client(), long_text, user_token).status_code == 200
    (file_id, file), = kimi.files.items()
    assert file["name"] == "prompt.txt" and kimi.uploads[file_id] == (long_text.encode(), "text/plain")
    blocks = kimi.requests[-1].body["message"]["blocks"]
    assert blocks[1:] == [{"file": {"id": file_id}}]
    assert "prompt.txt" in blocks[0]["text"]["content"] and len(blocks[0]["text"]["content"]) < 300


def test_a_prompt_within_the_limit_stays_inline(kimi, make_app, user_token):
    text = "Lorem ipsum dolor sit amet. " * 60  # 1 680 bytes
    assert ask(make_app("served", prompt_as_file_kb=2).test_client(), text, user_token).status_code == 200
    assert kimi.files == {} and kimi.requests[-1].body["message"]["blocks"] == [
        {"message_id": "", "text": {"content": text}}]
