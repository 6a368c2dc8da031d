"""Who the gateway says it is to Kimi (kimi-protocol-2026.md B.1.4): the Bearer token only, no cookie, the
x-msh ids of the token's claims, and a device id the same on every call of one account: the token's claim,
else one saved with the account (generated once), else, for a caller's own token, one derived from its user."""
import re

import pytest

from blueprints.upstream import services
from tests.support.jwts import make_jwt
from tests.support.waiting import wait_until

pytestmark = pytest.mark.app("served")  # the fake upstream, the server's token, no key

CHAT = "/apiv2/kimi.gateway.chat.v1.ChatService/Chat"
DELETE = "/apiv2/kimi.chat.v1.ChatService/DeleteChat"
NO_DEVICE = make_jwt(sub="nodeviceuser00000001", device_id=None)
BODY = {"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": "Hi"}]}


def ask(client, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post("/v1/chat/completions", json=BODY, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def chat_headers(kimi):
    return [r.headers for r in kimi.requests if r.path == CHAT]


def device_ids(kimi):
    return [headers["X-Msh-Device-Id"] for headers in chat_headers(kimi)]


def test_chat_carries_the_bearer_token_and_the_claims_ids_and_no_cookie(kimi, client, user_token):
    ask(client, user_token)
    (headers,) = chat_headers(kimi)
    assert {name: headers.get(name) for name in ("Authorization", "X-Msh-Device-Id", "X-Msh-Session-Id",
                                                 "X-Traffic-Id", "X-Msh-Platform", "X-Msh-Version",
                                                 "Connect-Protocol-Version", "Cookie")} == {
        "Authorization": f"Bearer {user_token}", "X-Msh-Device-Id": "7430000000000000002",
        "X-Msh-Session-Id": "1730000000000000001", "X-Traffic-Id": "testuser0000000000001",
        "X-Msh-Platform": "web", "X-Msh-Version": "2.2.0", "Connect-Protocol-Version": "1", "Cookie": None}


def test_an_own_token_without_device_id_gets_one_from_its_user_on_any_server(kimi, make_app, tmp_path):
    ask(make_app("served").test_client(), NO_DEVICE)
    ask(make_app("served", data_dir=str(tmp_path / "elsewhere")).test_client(), NO_DEVICE)  # nothing shared
    first, second = device_ids(kimi)
    assert re.fullmatch(r"[1-9]\d{18}", first) and second == first


def test_own_tokens_of_different_users_get_different_device_ids(kimi, client):
    ask(client, NO_DEVICE)
    ask(client, make_jwt(sub="otheruser00000000002", device_id=None))
    first, second = device_ids(kimi)
    assert first != second and re.fullmatch(r"[1-9]\d{18}", second)


def test_a_saved_account_without_device_id_keeps_one_generated_id_across_requests_and_restarts(kimi, make_app):
    app = make_app("served", kimi_token=NO_DEVICE)
    ask(app.test_client())
    ask(app.test_client())
    ask(make_app("served", kimi_token=NO_DEVICE).test_client())  # a restart on the same data
    (record,) = services(app).pool.store.read("accounts").values()
    assert re.fullmatch(r"[1-9]\d{18}", record["device_id"])
    assert device_ids(kimi) == [record["device_id"]] * 3


def test_an_account_saved_before_device_ids_were_kept_gets_one_once(kimi, make_app):
    app = make_app("served", kimi_token=NO_DEVICE)
    store = services(app).pool.store
    store.modify("accounts", lambda records: [record.pop("device_id") for record in records.values()])
    ask(app.test_client())
    ask(make_app("served", kimi_token=NO_DEVICE).test_client())
    (record,) = store.read("accounts").values()
    assert device_ids(kimi) == [record["device_id"]] * 2


def test_a_device_id_in_the_saved_accounts_token_wins(kimi, client, server_token):
    ask(client)
    assert device_ids(kimi) == ["7430000000000000002"]


def test_deleting_a_saved_accounts_chat_carries_the_device_id_its_chat_was_sent_with(kimi, make_app):
    app = make_app("served", kimi_token=NO_DEVICE, delete_chats=True, native_continuation=False)  # delete at once
    ask(app.test_client())
    assert wait_until(lambda: any(r.path == DELETE for r in kimi.requests))
    (record,) = services(app).pool.store.read("accounts").values()
    assert [r.headers["X-Msh-Device-Id"] for r in kimi.requests if r.path in (CHAT, DELETE)] == \
        [record["device_id"]] * 2
