"""Limits an owner puts on one proxy key, refused in every API's own error shape: the models it may ask
for (403), its daily cap (429 until midnight UTC), its expiry (401); keys from API_KEYS keep the defaults."""
import time

import pytest

from blueprints.upstream import services
from gateway.policies import seconds_to_midnight
from kimi.errors import BadRequest
from tests.support.api_formats import ERROR_TYPES, FORMATS, error_message
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways
pytestmark = pytest.mark.app("admin")

API_FORMATS = pytest.mark.parametrize("api", FORMATS.values(), ids=FORMATS)


def key_with(app, **policy):
    services(app).registry.save(make_jwt(sub="keypolicyaccount0001"), None)
    key, _ = services(app).keyring.create("policy test", **policy)
    return key


@API_FORMATS
def test_a_key_asking_for_a_model_outside_its_list_is_refused_with_403_in_each_format(app, kimi, api):
    key = key_with(app, allowed_models=("kimi-k2.5-instant",))
    client = app.test_client()
    assert api.call(client, key, model="kimi-k2.5-instant").status_code == 200
    refused = api.call(client, key, model="kimi-k2.5-thinking")
    assert refused.status_code == 403 and api.error_type(refused.json) == ERROR_TYPES[403][api.name]
    assert error_message(refused.json) == ("This API key may use only these models: kimi-k2.5-instant "
                                           "(not 'kimi-k2.5-thinking').")
    assert len(kimi.requests) == 1


def test_the_refusal_of_a_model_carries_its_code(app, kimi):
    key = key_with(app, allowed_models=("kimi-k2.5-instant",))
    body = FORMATS["openai"].call(app.test_client(), key, model="kimi-k2.5-thinking").json["error"]
    assert (body["code"], body["param"]) == ("model_not_allowed", "model")


def test_an_alias_counts_as_the_model_it_stands_for(app, kimi):
    key = key_with(app, allowed_models=("gpt-4o",))  # an alias of kimi-k2.5-instant (configs/models.yaml)
    client = app.test_client()
    assert FORMATS["openai"].call(client, key, model="kimi-k2.5-instant").status_code == 200
    assert FORMATS["anthropic"].call(client, key, model="claude-sonnet-4").status_code == 200
    assert FORMATS["openai"].call(client, key, model="kimi-k2.5-thinking").status_code == 403


@pytest.mark.app("admin", overload_fallback="kimi-k2.5-thinking>kimi-k2.5-instant")
def test_an_overloaded_model_never_falls_back_to_one_the_key_may_not_use(app, kimi):
    both = key_with(app, allowed_models=("kimi-k2.5-thinking", "kimi-k2.5-instant"))
    thinking_only, _ = services(app).keyring.create("thinking only", allowed_models=("kimi-k2.5-thinking",))
    client = app.test_client()
    kimi.replay("error_resource_exhausted.jsonl")
    served = FORMATS["openai"].call(client, both, model="kimi-k2.5-thinking")
    assert served.status_code == 200 and served.headers["X-Kimi-Fallback-From"] == "kimi-k2.5-thinking"
    kimi.requests.clear()
    kimi.replay("error_resource_exhausted.jsonl")
    refused = FORMATS["openai"].call(client, thinking_only, model="kimi-k2.5-thinking")
    assert refused.status_code == 429 and len(kimi.requests) == 1  # the overload itself, no second model tried


@API_FORMATS
def test_a_keys_daily_cap_serves_its_last_request_and_refuses_the_next_in_each_format(app, kimi, api):
    key = key_with(app, daily_cap=2)
    client = app.test_client()
    assert [api.call(client, key).status_code for _ in range(2)] == [200, 200]
    refused = api.call(client, key)
    assert refused.status_code == 429 and api.error_type(refused.json) == ERROR_TYPES[429][api.name]
    assert abs(int(refused.headers["Retry-After"]) - seconds_to_midnight(time.time())) <= 1
    assert "daily cap" in error_message(refused.json) and len(kimi.requests) == 2


def test_the_daily_cap_refusal_carries_its_code(app, kimi):
    key = key_with(app, daily_cap=1)
    client = app.test_client()
    FORMATS["openai"].call(client, key)
    assert FORMATS["openai"].call(client, key).json["error"]["code"] == "key_daily_cap"


@API_FORMATS
def test_an_expired_key_is_refused_with_401_saying_it_expired_in_each_format(app, kimi, api):
    key = key_with(app, expires_at=time.time() - 1)
    refused = api.call(app.test_client(), key)
    assert refused.status_code == 401 and api.error_type(refused.json) == ERROR_TYPES[401][api.name]
    assert "expired" in error_message(refused.json) and kimi.requests == []


def test_a_key_works_until_its_expiry_and_says_which_limit_refused_it(app, kimi):
    key = key_with(app, expires_at=time.time() + 3600)
    assert FORMATS["openai"].call(app.test_client(), key).status_code == 200
    record = next(iter(services(app).store.read("keys").values()))
    services(app).keyring.check_expiry(record, now=record["expires_at"] - 1)
    services(app).store.modify("keys", lambda keys: keys[record["id"]].update(expires_at=time.time()))
    assert FORMATS["openai"].call(app.test_client(), key).json["error"]["code"] == "key_expired"


@pytest.mark.app("admin", api_keys="sk-fromenv-policy-000001")
def test_keys_from_api_keys_cannot_be_given_limits(app):
    env_key = services(app).keyring.views()[0]
    with pytest.raises(BadRequest) as caught:
        services(app).keyring.set_policy(env_key["id"], "x", daily_cap=1)
    assert caught.value.code == "key_from_env"
