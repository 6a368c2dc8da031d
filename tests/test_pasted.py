"""Reading what an owner pastes to save an account (gateway/pasted.py), as a table: every form the /auth
page and POST /auth/save take, the kind each is named, and the refusals (docs/kimi-protocol.md D.1)."""
import json

import pytest

from gateway import pasted
from kimi.errors import BadRequest
from tests.support.jwts import make_jwt

SUB = "pasteuser00000000001"
ACCESS = make_jwt(sub=SUB, iss="account", expires_in=900)  # a 2026 access token from localStorage
REFRESH = make_jwt(sub=SUB, iss="account", typ="refresh", expires_in=90 * 86400)
OLD_COOKIE = make_jwt(sub=SUB, expires_in=30 * 86400)  # iss user-center, as kimi-auth was
OLD_REFRESH = make_jwt(sub=SUB, typ="refresh", expires_in=90 * 86400)
SNIPPET_OUTPUT = json.dumps({"access_token": ACCESS, "refresh_token": REFRESH})


@pytest.mark.parametrize("cookies, refresh_token, kind, access, refresh", [
    (SNIPPET_OUTPUT, "", "pair", ACCESS, REFRESH),
    (json.dumps({"accessToken": ACCESS, "refreshToken": REFRESH}), "", "pair", ACCESS, REFRESH),
    (ACCESS, REFRESH, "pair", ACCESS, REFRESH),
    (REFRESH, ACCESS, "pair", ACCESS, REFRESH),  # told apart by `typ`, not by the field
    (f'"{ACCESS}"', f'"{REFRESH}"', "pair", ACCESS, REFRESH),  # JSON-quoted localStorage values
    ("", REFRESH, "refresh", None, REFRESH),
    (REFRESH, "", "refresh", None, REFRESH),
    (OLD_REFRESH, "", "legacy_refresh", None, OLD_REFRESH),
    (ACCESS, "", "access", ACCESS, None),
    (f"theme=dark; kimi-auth={OLD_COOKIE}; lang=id", "", "cookie", OLD_COOKIE, None),
    (OLD_COOKIE, "", "cookie", OLD_COOKIE, None),
])
def test_each_pasted_form_is_read_and_named(cookies, refresh_token, kind, access, refresh):
    assert pasted.read_credentials(cookies, refresh_token) == {"access_token": access, "refresh_token": refresh}
    info = pasted.describe_credentials(cookies, refresh_token)
    assert (info["kind"], info["user_id"], info["can_renew"]) == (kind, SUB, bool(refresh))


def test_the_preview_tells_expiry_and_how_long_the_chain_lasts_without_any_token():
    info = pasted.describe_credentials(SNIPPET_OUTPUT, "", now=0)
    assert info["expires_at"] == pasted.iso(pasted.tokens.read_claims(ACCESS)["exp"])
    assert info["renewable_until"] == pasted.iso(pasted.tokens.read_claims(REFRESH)["exp"])
    assert ACCESS not in json.dumps(info) and REFRESH not in json.dumps(info)


@pytest.mark.parametrize("cookies, refresh_token, code", [
    ("", "", "no_token"),
    ('{"access_token": "eyJ', "", "not_json"),
    (ACCESS, make_jwt(sub=SUB, iss="account"), "two_access_tokens"),
    (OLD_REFRESH, REFRESH, "not_an_access_token"),
    (make_jwt(sub=SUB, iss="account", expires_in=-5), "", "token_expired"),
    ("", make_jwt(sub=SUB, iss="account", typ="refresh", expires_in=-5), "token_expired"),
])
def test_unusable_pastes_are_refused_with_a_code(cookies, refresh_token, code):
    with pytest.raises(BadRequest) as caught:
        pasted.read_credentials(cookies, refresh_token)
    assert caught.value.code == code


def test_the_no_token_message_describes_the_2026_way_first():
    with pytest.raises(BadRequest) as caught:
        pasted.read_credentials("", "")
    assert caught.value.message.startswith("Nothing to save. On www.kimi.com open DevTools → Application → "
                                           "Local Storage → https://www.kimi.com and copy `access_token` and "
                                           "`refresh_token`")
