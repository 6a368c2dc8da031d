"""A saved account whose refresh token belongs to Kimi's legacy API serves requests through the pool
by the legacy REST path (issue 5 item 6): the Connect refresh call refuses it, so it goes that way."""
import orjson

from app import create_app
from tests.auth_setup import ADMIN_PASSWORD, app_config
from tests.jwts import make_jwt

pytest_plugins = ["tests.auth_fixtures"]  # fake account service, redis-server, admin gateways


def test_a_legacy_account_is_served_by_the_legacy_path(kimi, kimi_auth, legacy_kimi, tmp_path):
    app = create_app(app_config(kimi, kimi_auth, tmp_path / "data", kimi_legacy_base_url=legacy_kimi.url))
    client = app.test_client()
    refresh = make_jwt(sub="legacyowner000000001", typ="refresh", expires_in=90 * 86400)
    saved = client.post("/auth/save", json={"cookies": refresh},
                        headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    assert saved.status_code == 201, saved.get_data(as_text=True)
    legacy_kimi.replay("legacy_sse_plain.txt")
    reply = client.post("/v1/chat/completions", data=orjson.dumps(
        {"model": "kimi-latest", "messages": [{"role": "user", "content": "Tip?"}]}))
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.json["choices"][0]["message"]["content"] == \
        "Set up a dedicated workspace and keep it free of distractions."
    assert kimi.requests == [] and legacy_kimi.created_chats
    status = client.get("/auth/status", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}).json
    assert [account["state"] for account in status["accounts"]] == ["legacy"]
