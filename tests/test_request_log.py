"""Every API request ends in one request-log entry (blueprints/request_notes.py, gateway/request_log.py):
who asked, on which account, which model, the error that ended it, token estimates; filtered as the
console asks, and kept REQUEST_LOG_DAYS."""
import pytest

from blueprints.upstream import services
from gateway.request_log import RequestLog
from gateway.store import FileStore
from gateway.usage import LOCAL_CALLER, OWN_TOKEN, RequestEntry
from kimi.usage import estimate_tokens
from tests.support.fake_kimi import load_fixture
from tests.support.fixture_streams import ANSWER_TEXT, PLAIN_TEXT, THINK_TEXT

pytestmark = pytest.mark.app("served", model_catalogue_ttl=0)

HI = [{"role": "user", "content": "hi"}]


def logged(app, **filters):
    services(app).usage.flush()
    return services(app).requests_log.entries(**filters)


def ask(client, key=None, model="kimi-k2.5-instant", **extra):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.post("/v1/chat/completions?key=not-kept", json={"model": model, "messages": HI, **extra},
                           headers=headers)
    response.get_data()
    response.close()  # as a server does once the body is written: the request's entry is made
    return response


def the_account(app):
    (account_id,) = services(app).store.read("accounts")
    return account_id


def test_a_whole_answer_is_logged_with_who_asked_the_turn_and_token_estimates(app, client, kimi):
    kimi.replay("plain_text.jsonl")
    response = ask(client)
    assert response.status_code == 200
    (entry,) = logged(app)
    assert (entry.method, entry.path, entry.api, entry.status, entry.error) == (
        "POST", "/v1/chat/completions", "openai", 200, "")
    assert (entry.key_id, entry.key_label, entry.account) == (LOCAL_CALLER, "", the_account(app))
    assert (entry.model_asked, entry.model_served, entry.stream, entry.continuation) == (
        "kimi-k2.5-instant", "kimi-k2.5-instant", False, "new")
    assert entry.request_id == response.headers["X-Request-Id"]
    assert entry.tokens_in == response.json["usage"]["prompt_tokens"] > 0
    assert entry.tokens_out == estimate_tokens(PLAIN_TEXT) == response.json["usage"]["completion_tokens"]
    assert entry.upstream_first_byte_ms is not None and entry.body is None


def test_a_stream_counts_its_thinking_and_text_as_output(app, client, kimi):
    kimi.replay("thinking.jsonl")
    assert ask(client, model="kimi-k2.5-thinking", stream=True).get_data()
    (entry,) = logged(app)
    assert entry.stream is True and entry.status == 200
    assert entry.tokens_out == estimate_tokens(THINK_TEXT + ANSWER_TEXT)


def test_a_callers_own_token_is_counted_as_own_never_named(app, client, kimi, user_token):
    kimi.replay("plain_text.jsonl")
    assert ask(client, key=user_token).status_code == 200
    (entry,) = logged(app)
    assert (entry.key_id, entry.account) == (OWN_TOKEN, OWN_TOKEN)


def test_refusals_and_a_mid_stream_error_are_logged_by_kind(app, client, kimi):
    key, record = services(app).keyring.create(label="team", rate_limit=1)
    kimi.frames(load_fixture("plain_text.jsonl")[:8] + [(2, {"error": {"code": "internal", "message": "boom"}})])
    assert b'"error"' in ask(client, key=key, stream=True).get_data()
    assert ask(client, key=key).status_code == 429
    assert ask(client, key="sk-wrong").status_code == 401
    newest_first = [(e.status, e.error, e.key_id, e.key_label) for e in logged(app)]
    assert newest_first == [(401, "invalid_api_key", "", ""), (429, "key_rate_limited", record["id"], "team"),
                            (200, "internal", record["id"], "team")]


def test_model_lists_are_logged_too(app, client):
    with client.get("/v1/models") as response:
        assert response.status_code == 200
    (entry,) = logged(app)
    assert (entry.path, entry.api, entry.status, entry.account, entry.model_asked) == ("/v1/models", "openai", 200, "", "")


def test_pages_are_not_logged(app, client):
    with client.get("/ping") as response:
        assert response.status_code == 200
    assert logged(app) == []


def entry(at, status=200, key="k1", account="a1", asked="kimi-k2.5", served="kimi-k2.5"):
    return RequestEntry(at=at, request_id=f"r{at}", method="POST", path="/v1/messages", api="anthropic",
                        key_id=key, key_label="", account=account, status=status, model_asked=asked,
                        model_served=served)


@pytest.fixture
def requests_log(tmp_path):
    store = FileStore(tmp_path / "data")
    yield RequestLog(store, keep_days=3, clock=lambda: 1_000_000.0)
    store.close()


@pytest.mark.parametrize("filters, expected", [
    ({}, ["r1000005.0", "r1000004.0", "r1000003.0", "r1000002.0", "r1000001.0"]),
    ({"status": 429}, ["r1000003.0"]),
    ({"status": "4xx"}, ["r1000004.0", "r1000003.0"]),
    ({"status": "5xx"}, ["r1000005.0"]),
    ({"key": "k2"}, ["r1000004.0"]),
    ({"account": "a2"}, ["r1000003.0", "r1000002.0"]),
    ({"model": "kimi-k2.6"}, ["r1000005.0", "r1000002.0"]),  # asked, or served after a fallback
    ({"account": "a1", "status": "2xx"}, ["r1000001.0"]),
    ({"limit": 2}, ["r1000005.0", "r1000004.0"]),
])
def test_filters_pick_entries_newest_first(requests_log, filters, expected):
    requests_log.write([entry(1_000_001.0), entry(1_000_002.0, account="a2", asked="kimi-k2.6"),
                        entry(1_000_003.0, status=429, account="a2"), entry(1_000_004.0, status=401, key="k2"),
                        entry(1_000_005.0, status=502, served="kimi-k2.6")])
    assert [e.request_id for e in requests_log.entries(**filters)] == expected


def test_entries_older_than_the_retention_are_gone(tmp_path):
    store, now = FileStore(tmp_path / "data"), [1_000_000.0]
    requests_log = RequestLog(store, keep_days=3, clock=lambda: now[0])
    requests_log.write([entry(now[0] - 3 * 86400 - 1), entry(now[0] - 3 * 86400 + 1)])
    assert [e.at for e in requests_log.entries()] == [now[0] - 3 * 86400 + 1]  # the older is past retention
    now[0] += 2
    requests_log.write([entry(now[0])])
    assert [at for at, _ in store.read_rows("requests", 0, 10)] == [now[0]]  # trimmed from the store too
    store.close()
