"""The request log and usage counts keep no credential (a proxy key, a caller's Kimi token, a cookie) and no
prompt or answer text; with LOG_BODIES on, the request body is kept as received, the credentials still not."""
import pytest

from blueprints.upstream import services
from tests.support.fixture_streams import PLAIN_TEXT

PROMPT = "prompt-marker-7f3a: where did I leave my keys?"
COOKIE = "kimi-auth=cookie-marker-91bd"


def stored_bytes(app, data_dir) -> bytes:
    """Every byte the file store holds, its SQLite write-ahead logs included."""
    services(app).usage.flush()
    return b"".join(path.read_bytes() for path in sorted(data_dir.rglob("*")) if path.is_file())


def ask_every_way(app, client, kimi, user_token):
    """A whole answer on the caller's own token, a stream on a proxy key, and Gemini with ?key=."""
    key, _ = services(app).keyring.create(label="laptop")
    chat = {"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": PROMPT}]}
    kimi.replay("plain_text.jsonl").replay("plain_text.jsonl").replay("plain_text.jsonl")
    sent = [client.post("/v1/chat/completions", json=chat, headers={"Authorization": f"Bearer {user_token}",
                                                                     "Cookie": COOKIE}),
            client.post("/v1/chat/completions", json={**chat, "stream": True}, headers={"Authorization": f"Bearer {key}"}),
            client.post(f"/v1beta/models/kimi-k2.5-instant:generateContent?key={key}",
                        json={"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]})]
    for response in sent:
        assert response.status_code == 200 and "dedicated" in response.get_data(as_text=True)
        response.close()
    return key


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.mark.app("served", model_catalogue_ttl=0, native_continuation=False)
def test_no_credential_prompt_or_answer_is_stored(app, client, kimi, user_token, data_dir):
    key = ask_every_way(app, client, kimi, user_token)
    stored = stored_bytes(app, data_dir)
    assert len(services(app).requests_log.entries()) == 3
    for secret in (key, user_token, "cookie-marker-91bd", PROMPT, PLAIN_TEXT[:30]):
        assert secret.encode() not in stored


@pytest.mark.app("served", model_catalogue_ttl=0, native_continuation=False, log_bodies=True)
def test_with_log_bodies_the_body_is_kept_and_the_credentials_still_not(app, client, kimi, user_token, data_dir):
    key = ask_every_way(app, client, kimi, user_token)
    stored = stored_bytes(app, data_dir)
    bodies = [entry.body for entry in services(app).requests_log.entries()]
    assert all(PROMPT in body for body in bodies) and len(bodies) == 3
    assert PROMPT.encode() in stored
    for secret in (key, user_token, "cookie-marker-91bd"):
        assert secret.encode() not in stored


@pytest.mark.app("served", model_catalogue_ttl=0, log_bodies=True)
def test_a_logged_body_is_cut_at_64_kib(app, client, kimi):
    kimi.replay("plain_text.jsonl")
    body = '{"model":"kimi-k2.5-instant","messages":[{"role":"user","content":"%s"}]}' % ("x" * 70000)
    response = client.post("/v1/chat/completions", data=body, content_type="application/json")
    response.close()
    services(app).usage.flush()
    (entry,) = services(app).requests_log.entries()
    assert entry.body == body[:64 * 1024]


@pytest.mark.app("served", model_catalogue_ttl=0, log_bodies=True)
def test_a_refused_strangers_body_is_not_kept_even_with_log_bodies(app, client, kimi):
    services(app).keyring.create(label="the only key")
    chat = {"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": PROMPT}]}
    response = client.post("/v1/chat/completions", json=chat, headers={"Authorization": "Bearer sk-guessed"})
    assert response.status_code == 401
    response.close()
    services(app).usage.flush()
    (entry,) = services(app).requests_log.entries()
    assert (entry.status, entry.key_id, entry.body) == (401, "", None)
