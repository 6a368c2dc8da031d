"""The original TypeScript gateway's token API, as its scripts call it: POST /auth/extract, POST
/auth/save and GET /auth/status answer its keys (`success`, `token`, `token_info`, `message`,
`has_token`, `token_preview`) beside ours, and never a token the gateway keeps."""
import pytest

from tests.support.admin_setup import ADMIN_PASSWORD
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.auth_fixtures"]
pytestmark = pytest.mark.app("admin")

ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
TOKEN = make_jwt(sub="origuser000000000001")


def test_extract_answers_success_token_and_token_info(client):
    response = client.post("/auth/extract", json={"token": TOKEN})
    assert response.status_code == 200
    assert (response.json["success"], response.json["token"]) == (True, TOKEN)
    info = response.json["token_info"]
    assert (info["user_id"], info["expired"]) == ("origuser000000000001", False)
    assert TOKEN not in str(info)


def test_save_answers_success_message_and_token_info_without_the_token(client):
    response = client.post("/auth/save", json={"token": TOKEN}, headers=ADMIN)
    assert response.status_code == 201
    assert (response.json["success"], response.json["message"]) == (True, "Account saved.")
    assert response.json["token_info"]["user_id"] == "origuser000000000001"
    assert TOKEN.split(".")[1] not in response.text
    again = client.post("/auth/save", json={"token": TOKEN}, headers=ADMIN)
    assert (again.status_code, again.json["message"]) == (200, "Account updated.")


def test_status_answers_has_token_token_info_and_a_short_preview(client):
    assert client.get("/auth/status", headers=ADMIN).json["has_token"] is False
    client.post("/auth/save", json={"token": TOKEN}, headers=ADMIN)
    status = client.get("/auth/status", headers=ADMIN).json
    assert status["has_token"] is True and status["token_info"]["user_id"] == "origuser000000000001"
    assert status["token_preview"] == TOKEN[:6] + "…"
    assert TOKEN.split(".")[1] not in str(status)
