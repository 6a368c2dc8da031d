"""Renewing a 2026 refresh chain against the fake account service (docs/kimi-protocol.md D.1): the
RefreshToken RPC in every answer spelling, the legacy GET only when the RPC is unknown, renewal ahead
of `exp`, the rotated pair stored before use and across a restart, and a chain revoked from outside."""
import pytest

from gateway.registry import Registry
from kimi import tokens
from kimi.errors import AuthRejected
from kimi.refresh import AccountCalls
from kimi.transport import Endpoints

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, open_pool


@pytest.fixture
def calls(kimi_auth):
    return AccountCalls(endpoints=Endpoints(**kimi_auth.call_urls()))


def save_chain(pool, kimi_auth, sub="chainuser00000000001", access_ttl=None) -> tuple[str, str, str]:
    """(account id, access, refresh) of a 2026 login saved as the console snippet prints it."""
    access, refresh = kimi_auth.issue_pair(sub, access_ttl)
    pasted = f'{{"access_token": "{access}", "refresh_token": "{refresh}"}}'
    return Registry(pool).save(pasted, None)[0]["id"], access, refresh


def test_the_rpc_carries_the_token_in_its_body_and_the_rotated_one_is_refused_after_use(calls, kimi_auth):
    _, refresh = kimi_auth.issue_pair()
    access, rotated = calls.refresh(refresh)
    assert (access, rotated) == kimi_auth.issued[0]
    assert kimi_auth.rpc_calls == [({"refresh_token": refresh}, None)]  # no Authorization header
    with pytest.raises(AuthRejected) as caught:
        calls.refresh(refresh)
    assert (caught.value.code, caught.value.message) == \
        ("refresh_rejected", "Kimi refused the refresh token (HTTP 401: invalid claims).")
    assert calls.refresh(rotated) == kimi_auth.issued[1]


@pytest.mark.parametrize("style", ["camel", "snake", "data"])
def test_every_answer_spelling_gives_the_pair(calls, kimi_auth, style):
    kimi_auth.answer_style = style
    assert calls.refresh(kimi_auth.issue_pair()[1]) == kimi_auth.issued[0]


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_refusals_and_the_legacy_get_is_not_asked(calls, kimi_auth, status):
    kimi_auth.reject_status = status
    with pytest.raises(AuthRejected, match=f"HTTP {status}"):
        calls.refresh("refresh-token-kimi-forgot")
    assert kimi_auth.refresh_calls == ["refresh-token-kimi-forgot"] and len(kimi_auth.rpc_calls) == 1


def test_a_host_without_the_rpc_is_asked_the_legacy_get(calls, kimi_auth):
    kimi_auth.rpc_enabled = False
    refresh = kimi_auth.issue_refresh("oldhostuser000000001")
    assert calls.refresh(refresh) == kimi_auth.issued[0]
    assert kimi_auth.rpc_calls == [] and kimi_auth.refresh_calls == [refresh]


def test_a_short_lived_token_is_renewed_ahead_of_its_expiry(open_pool, kimi_auth):
    pool = open_pool()
    kimi_auth.access_ttl = 33  # renewed once less than 30 s are left: after about 3 s
    account_id, access, refresh = save_chain(pool, kimi_auth)
    lease = pool.acquire()
    assert lease.token == access and kimi_auth.refresh_calls == []
    lease.release()
    assert kimi_auth.wait_for(lambda: pool.needs_refresh(pool.store.read("accounts")[account_id]), timeout=10)
    assert not tokens.is_expired(tokens.read_claims(access), leeway=25)  # Kimi would still take it
    renewed = pool.acquire()
    assert renewed.token == kimi_auth.issued[0][0] and kimi_auth.refresh_calls == [refresh]


def test_the_stored_pair_after_a_restart_is_the_rotated_one(open_pool, kimi_auth):
    before = open_pool()
    account_id, _, refresh = save_chain(before, kimi_auth, access_ttl=10)  # due for renewal at once
    before.renew(account_id, None)  # rotated, then the process "dies" before using the new token
    after = open_pool()
    [(access, rotated)] = kimi_auth.issued
    record = after.store.read("accounts")[account_id]
    assert (record["access_token"], record["refresh_token"]) == (access, rotated)
    after.store.modify("accounts", lambda records: records[account_id].update(access_token=None))
    assert after.acquire().token == kimi_auth.issued[1][0]
    assert kimi_auth.refresh_calls == [refresh, rotated]


def test_a_chain_rotated_elsewhere_needs_reimport_and_is_not_asked_again(open_pool, kimi_auth):
    pool = open_pool()
    account_id, _, refresh = save_chain(pool, kimi_auth, access_ttl=10)
    kimi_auth.rotate_elsewhere(refresh)  # the browser refreshed the same chain
    for _ in range(3):
        with pytest.raises(AuthRejected) as caught:
            pool.acquire()
        assert caught.value.code == "account_needs_reimport"
    assert kimi_auth.refresh_calls == [refresh]  # one refusal, no retry loop
    assert caught.value.message.startswith("No usable Kimi account on this server (1 needing re-import). "
                                           "Kimi refused the refresh token (HTTP 401: invalid claims). ")
    assert "same session" in caught.value.message
    assert Registry(pool).view(account_id)["state"] == "reimport"


def test_saving_the_account_again_brings_it_back(open_pool, kimi_auth):
    pool = open_pool()
    account_id, _, refresh = save_chain(pool, kimi_auth, access_ttl=10)
    kimi_auth.rotate_elsewhere(refresh)
    with pytest.raises(AuthRejected):
        pool.acquire()
    again, _, _ = save_chain(pool, kimi_auth, access_ttl=3600)
    assert again == account_id and Registry(pool).view(account_id)["state"] == "active"
    assert pool.acquire().account_id == account_id
