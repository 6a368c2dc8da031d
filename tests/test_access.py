import pytest

from gateway.access import Access, Keyring, bearer, choose_access
from kimi.errors import AuthRejected, RateLimited
from gateway.store import FileStore
from kimi.tokens import describe, extract_token, is_access_jwt, is_expired, read_claims, token_pair
from tests.support.jwts import make_jwt

USER = make_jwt(sub="useruseruseruseruser")
REMOTE = "203.0.113.9"


@pytest.fixture
def store(tmp_path):
    return FileStore(tmp_path)


@pytest.fixture
def no_keys(store):
    return Keyring(store)


def test_callers_own_token_is_used(no_keys):
    access = choose_access(USER, REMOTE, no_keys)
    assert access.own.token == USER and access.presented == (access.own,) and access.caller.startswith("own:")


def test_one_of_several_comma_separated_tokens_is_chosen(no_keys):
    other = make_jwt(sub="otherotherotherother")
    chosen = {choose_access(f"{USER}, {other}", None, no_keys).own.token for _ in range(60)}
    assert chosen == {USER, other}


def test_server_accounts_are_lent_to_loopback_callers_while_no_key_exists(no_keys):
    assert choose_access("sk-anything", "127.0.0.1", no_keys) == Access()
    assert choose_access(None, "::1", no_keys) == Access()


def test_server_accounts_are_not_lent_to_remote_callers_without_a_key(no_keys):
    with pytest.raises(AuthRejected, match="proxy API key") as caught:
        choose_access(None, REMOTE, no_keys)
    assert "/auth" in caught.value.message and caught.value.code == "invalid_api_key"


def test_a_key_from_api_keys_unlocks_the_accounts_and_loopback_then_needs_one_too(store):
    keys = Keyring(store, api_keys="sk-good1234567, sk-other7654321")
    assert choose_access("sk-good1234567", REMOTE, keys).key_id.startswith("env-")
    with pytest.raises(AuthRejected):
        choose_access("sk-wrong", "127.0.0.1", keys)
    with pytest.raises(AuthRejected):
        choose_access(None, "127.0.0.1", keys)


def test_a_created_key_is_stored_only_as_its_hash_and_works_until_revoked(store, no_keys):
    key, record = no_keys.create("laptop")
    assert key.startswith("sk-") and len(key) > 40
    assert key not in (store.dir / "keys.json").read_text()
    assert choose_access(key, REMOTE, no_keys) == Access(key_id=record["id"], caller="key:" + record["id"])
    no_keys.revoke(record["id"])
    with pytest.raises(AuthRejected):
        choose_access(key, REMOTE, no_keys)


def test_views_show_a_prefix_never_the_key_or_its_hash(no_keys):
    key, record = no_keys.create("ci", rate_limit=5)
    [view] = no_keys.views()
    assert view["prefix"] == key[:6] + "…" and view["rate_limit"] == 5 and "hash" not in view
    assert key not in str(view) and record["hash"] not in str(view)


def test_each_key_has_its_own_per_minute_limit(store):
    keys = Keyring(store, rate_limit=2)
    first, _ = keys.create("a")
    second, _ = keys.create("b")
    for _ in range(2):
        choose_access(first, REMOTE, keys)
    with pytest.raises(RateLimited) as caught:
        choose_access(first, REMOTE, keys)
    assert 1 <= caught.value.retry_after <= 60 and caught.value.code == "key_rate_limited"
    assert choose_access(second, REMOTE, keys).key_id


@pytest.mark.parametrize("pasted", [USER, f"Bearer {USER}", f"foo=1; kimi-auth={USER}; bar=2", f"kimi-auth={USER}"])
def test_extract_token_accepts_cookie_headers_and_bearer(pasted):
    assert extract_token(pasted) == USER


def test_claims_tell_access_tokens_from_refresh_tokens_and_junk():
    assert is_access_jwt(read_claims(USER))
    assert not is_access_jwt(read_claims(make_jwt(typ="refresh")))
    assert read_claims("not-a-jwt") is None and read_claims("eyJ.a.b") is None


def test_expiry_is_read_from_the_token():
    assert is_expired(read_claims(make_jwt(expires_in=-10)))
    assert not is_expired(read_claims(make_jwt(expires_in=3600)))


def test_describe_never_shows_the_token():
    assert describe(USER) == "user:useruseruseruseruser"
    assert USER not in describe(USER)


def test_bearer_header_parsing():
    assert bearer("Bearer abc") == "abc" and bearer("bearer abc") == "abc"
    assert bearer("Basic abc") is None and bearer(None) is None and bearer("Bearer ") is None


@pytest.mark.parametrize("body, pair", [
    ({"access_token": "a1", "refresh_token": "r1"}, ("a1", "r1")),
    ({"accessToken": "a1", "refreshToken": "r1"}, ("a1", "r1")),  # camelCase (docs/kimi-protocol.md C.11)
    ({"data": {"access_token": "a1", "refresh_token": "r1"}}, ("a1", "r1")),  # a `data` wrapper
    ({"access_token": "a1"}, ("a1", None)),  # no rotation this time
    ({"access_token": 7, "refresh_token": ["r1"]}, (None, None)),  # not strings
    (["a1", "r1"], (None, None)),
    (None, (None, None)),
])
def test_the_token_pair_is_read_from_every_refresh_answer_shape_seen(body, pair):
    assert token_pair(body) == pair
