import pytest

from blueprints.access import bearer, choose_token
from kimi.errors import AuthRejected
from kimi.tokens import describe, extract_token, is_access_jwt, is_expired, read_claims
from tests.jwts import make_jwt

USER = make_jwt(sub="useruseruseruseruser")
SERVER = make_jwt(sub="serverserverserverse")


def test_callers_own_token_is_used():
    assert choose_token(USER, "203.0.113.9", {"kimi_token": SERVER}) == USER


def test_one_of_several_comma_separated_tokens_is_chosen():
    other = make_jwt(sub="otherotherotherother")
    chosen = {choose_token(f"{USER}, {other}", None, {}) for _ in range(60)}
    assert chosen == {USER, other}


def test_no_token_anywhere_is_401_saying_how_to_send_one():
    with pytest.raises(AuthRejected, match="kimi-auth"):
        choose_token(None, "127.0.0.1", {"kimi_token": ""})


def test_server_token_is_lent_to_loopback_callers_while_no_key_is_configured():
    assert choose_token("sk-anything", "127.0.0.1", {"kimi_token": SERVER, "api_keys": ""}) == SERVER


def test_server_token_is_not_lent_to_remote_callers_without_a_key():
    with pytest.raises(AuthRejected, match="proxy API key"):
        choose_token(None, "203.0.113.9", {"kimi_token": SERVER, "api_keys": ""})


def test_server_token_needs_a_configured_key_once_keys_exist():
    settings = {"kimi_token": SERVER, "api_keys": "sk-good1234567"}
    assert choose_token("sk-good1234567", "203.0.113.9", settings) == SERVER
    with pytest.raises(AuthRejected):
        choose_token("sk-wrong", "127.0.0.1", settings)


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
