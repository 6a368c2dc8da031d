"""Refresh token -> access token (kimi/legacy/auth.py) against the fake legacy upstream over real HTTP:
caching, one refresh for many concurrent callers, rotation (and handing a rotated token over to its
owner through the on_rotated hook), and dropping the cache on a 401."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from kimi import errors
from kimi.events import ChatRequest, Message
from kimi.legacy.auth import AccessTokens
from kimi.rest import Transport
from kimi.transport import Endpoints

pytest_plugins = ["tests.support.legacy_fixtures"]  # legacy (this module's own fake upstream), legacy_client

REFRESH = "rt-original-token-0001"


@pytest.fixture
def access_tokens(legacy):
    return AccessTokens(Transport(base_url=legacy.url, connect_timeout=2, read_timeout=5), Endpoints())


def test_first_use_refreshes_and_fetches_the_user_then_the_cache_answers(legacy, access_tokens):
    first = access_tokens.get(REFRESH)
    again = access_tokens.get(REFRESH)
    assert again == first and first.user_id == legacy.users[REFRESH]
    assert (legacy.refresh_calls, legacy.user_calls) == (1, 1)
    assert legacy.requests[0].headers["authorization"] == f"Bearer {REFRESH}"
    assert legacy.requests[1].headers["authorization"] == f"Bearer {first.token}"


def test_fifty_concurrent_callers_share_one_refresh(legacy, access_tokens):
    legacy.refresh_delay = 0.3  # the refresh is still running while all fifty ask
    start = threading.Barrier(50)

    def get(_):
        start.wait()
        return access_tokens.get(REFRESH)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(get, range(50)))
    assert legacy.refresh_calls == 1 and legacy.user_calls == 1
    assert len({access.token for access in results}) == 1


def test_concurrent_callers_all_get_the_refresh_failure(legacy, access_tokens):
    legacy.refresh_delay = 0.3
    legacy.rejected_refresh.add(REFRESH)
    start = threading.Barrier(20)

    def get(_):
        start.wait()
        try:
            access_tokens.get(REFRESH)
        except errors.AuthRejected as err:
            return err.code
        return "no error"

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(get, range(20)))
    assert codes == ["refresh_rejected"] * 20 and legacy.refresh_calls == 1


def test_a_refused_refresh_token_is_not_cached(legacy, access_tokens):
    legacy.rejected_refresh.add(REFRESH)
    with pytest.raises(errors.AuthRejected, match="refused the refresh token"):
        access_tokens.get(REFRESH)
    legacy.rejected_refresh.clear()
    assert access_tokens.get(REFRESH).user_id == legacy.users[REFRESH]
    assert legacy.refresh_calls == 2


def test_a_stale_access_token_is_renewed_with_the_rotated_refresh_token(legacy):
    now = [1_000_000_000.0]
    access_tokens = AccessTokens(Transport(base_url=legacy.url), Endpoints(), clock=lambda: now[0])
    first = access_tokens.get(REFRESH)
    legacy.rejected_refresh.add(REFRESH)  # only the rotated token still works from here on
    now[0] = 10_000_000_000.0  # far past the access token's exp
    second = access_tokens.get(REFRESH)
    assert second.token != first.token and legacy.refresh_calls == 2
    assert legacy.requests[-2].headers["authorization"].startswith("Bearer rt-")


def test_an_access_token_near_its_expiry_is_not_served(legacy, access_tokens):
    legacy.access_ttl = 30  # under the 60 s renewal margin
    access_tokens.get(REFRESH)
    access_tokens.get(REFRESH)
    assert legacy.refresh_calls == 2


def test_drop_forgets_the_access_token(legacy, access_tokens):
    access_tokens.get(REFRESH)
    access_tokens.drop(REFRESH)
    access_tokens.get(REFRESH)
    assert legacy.refresh_calls == 2


class Owner:
    """An on_rotated hook that records each rotation and says whether it stored the new token."""

    def __init__(self, takes_it: bool):
        self.takes_it = takes_it
        self.rotations = []

    def __call__(self, old: str, new: str) -> bool:
        self.rotations.append((old, new))
        return self.takes_it


def clocked_tokens(legacy, owner, now):
    return AccessTokens(Transport(base_url=legacy.url), Endpoints(), clock=lambda: now[0], on_rotated=owner)


def expire_issued_access_tokens(legacy, now):
    """Move the test clock past every access token issued so far; those issued later outlive it."""
    now[0] += legacy.access_ttl
    legacy.access_ttl *= 2


def test_a_rotation_is_reported_with_the_token_asked_with(legacy):
    owner = Owner(takes_it=True)
    AccessTokens(Transport(base_url=legacy.url), Endpoints(), on_rotated=owner).get(REFRESH)
    assert owner.rotations == [(REFRESH, legacy.issued_refresh[0])]


def test_no_rotation_no_report(legacy):
    legacy.rotate_refresh = False
    owner = Owner(takes_it=True)
    AccessTokens(Transport(base_url=legacy.url), Endpoints(), on_rotated=owner).get(REFRESH)
    assert owner.rotations == [] and legacy.refresh_calls == 1


def test_a_handed_over_token_is_served_from_the_cache_under_the_new_token(legacy):
    owner = Owner(takes_it=True)
    access_tokens = AccessTokens(Transport(base_url=legacy.url), Endpoints(), on_rotated=owner)
    first = access_tokens.get(REFRESH)
    assert access_tokens.get(legacy.issued_refresh[0]) == first
    assert access_tokens.get(REFRESH) == first  # a request lent the old token just before the rotation
    assert legacy.refresh_calls == 1 and len(owner.rotations) == 1


def test_once_stale_a_handed_over_token_is_exchanged_as_itself_not_as_its_successor(legacy):
    legacy.void_used_refresh = True
    now = [time.time()]
    access_tokens = clocked_tokens(legacy, Owner(takes_it=True), now)
    access_tokens.get(REFRESH)
    expire_issued_access_tokens(legacy, now)
    with pytest.raises(errors.AuthRejected, match="refused the refresh token"):
        access_tokens.get(REFRESH)  # void at Kimi: this worker's memory does not hide it
    assert access_tokens.get(legacy.issued_refresh[0]).token  # the successor still works
    assert legacy.requests[-2].headers["authorization"] == f"Bearer {legacy.issued_refresh[0]}"


def test_the_next_refresh_of_a_handed_over_token_reports_the_next_rotation(legacy):
    legacy.void_used_refresh = True
    now = [time.time()]
    owner = Owner(takes_it=True)
    access_tokens = clocked_tokens(legacy, owner, now)
    access_tokens.get(REFRESH)
    expire_issued_access_tokens(legacy, now)
    access_tokens.get(legacy.issued_refresh[0])
    assert owner.rotations == [(REFRESH, legacy.issued_refresh[0]),
                               (legacy.issued_refresh[0], legacy.issued_refresh[1])]


def test_a_token_nobody_takes_over_keeps_following_its_chain_in_memory(legacy):
    legacy.void_used_refresh = True
    now = [time.time()]
    owner = Owner(takes_it=False)  # a caller's own token: no saved account holds it
    access_tokens = clocked_tokens(legacy, owner, now)
    access_tokens.get(REFRESH)
    expire_issued_access_tokens(legacy, now)
    assert access_tokens.get(REFRESH).token
    assert owner.rotations == [(REFRESH, legacy.issued_refresh[0]), (REFRESH, legacy.issued_refresh[1])]


def test_a_chain_survives_the_sweep_of_stale_entries_and_old_handed_over_tokens_do_not(legacy):
    legacy.void_used_refresh = True
    now = [time.time()]
    owner = Owner(takes_it=False)
    access_tokens = clocked_tokens(legacy, owner, now)
    access_tokens.get(REFRESH)  # a caller's chain: REFRESH -> its successor
    owner.takes_it = True
    access_tokens.get("rt-saved-account-token")  # handed over: cached under its successor, plus an alias
    expire_issued_access_tokens(legacy, now)
    access_tokens.get("rt-another-token")  # its refresh sweeps what went stale meanwhile
    assert len(access_tokens._cache) == 3  # the chain, the handed-over successor, the new one: no alias
    assert access_tokens.get(REFRESH).token  # the chain still leads to the live successor


def ask(client):
    stream = client.open_chat(ChatRequest(model="kimi", messages=[Message("user", "Hi there")]), REFRESH)
    try:
        return list(stream)
    finally:
        stream.close()


def test_a_401_drops_the_cached_token_and_the_next_request_refreshes(legacy, legacy_client):
    ask(legacy_client)
    legacy.revoke()  # every access token issued so far now answers 401
    with pytest.raises(errors.AuthRejected, match="no longer valid"):
        ask(legacy_client)
    assert ask(legacy_client)[-1].reason == "stop"
    assert legacy.refresh_calls == 2


def test_auth_token_invalid_in_the_stream_drops_the_cached_token(legacy, legacy_client):
    legacy.error("auth.token.invalid", "authorization expired")
    with pytest.raises(errors.AuthRejected):
        ask(legacy_client)
    ask(legacy_client)
    assert legacy.refresh_calls == 2
