"""Refresh token -> access token (kimi/legacy/auth.py) against the fake legacy upstream over real HTTP:
caching, one refresh for many concurrent callers, rotation, and dropping the cache on a 401."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from configs.settings import load_models
from kimi import errors
from kimi.events import ChatRequest, Message
from kimi.legacy.auth import AccessTokens
from kimi.legacy.client import LegacyClient
from kimi.legacy.transport import Transport
from kimi.models import ModelTable
from tests.fake_kimi_legacy import FakeKimiLegacy

REFRESH = "rt-original-token-0001"


@pytest.fixture(scope="module")
def server():
    with FakeKimiLegacy() as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def access_tokens(fake):
    return AccessTokens(Transport(base_url=fake.url, connect_timeout=2, read_timeout=5))


def test_first_use_refreshes_and_fetches_the_user_then_the_cache_answers(fake, access_tokens):
    first = access_tokens.get(REFRESH)
    again = access_tokens.get(REFRESH)
    assert again == first and first.user_id == fake.users[REFRESH]
    assert (fake.refresh_calls, fake.user_calls) == (1, 1)
    assert fake.requests[0].headers["authorization"] == f"Bearer {REFRESH}"
    assert fake.requests[1].headers["authorization"] == f"Bearer {first.token}"


def test_fifty_concurrent_callers_share_one_refresh(fake, access_tokens):
    fake.refresh_delay = 0.3  # the refresh is still running while all fifty ask
    start = threading.Barrier(50)

    def get(_):
        start.wait()
        return access_tokens.get(REFRESH)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(get, range(50)))
    assert fake.refresh_calls == 1 and fake.user_calls == 1
    assert len({access.token for access in results}) == 1


def test_concurrent_callers_all_get_the_refresh_failure(fake, access_tokens):
    fake.refresh_delay = 0.3
    fake.rejected_refresh.add(REFRESH)
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
    assert codes == ["refresh_rejected"] * 20 and fake.refresh_calls == 1


def test_a_refused_refresh_token_is_not_cached(fake, access_tokens):
    fake.rejected_refresh.add(REFRESH)
    with pytest.raises(errors.AuthRejected, match="refused the refresh token"):
        access_tokens.get(REFRESH)
    fake.rejected_refresh.clear()
    assert access_tokens.get(REFRESH).user_id == fake.users[REFRESH]
    assert fake.refresh_calls == 2


def test_a_stale_access_token_is_renewed_with_the_rotated_refresh_token(fake):
    now = [1_000_000_000.0]
    access_tokens = AccessTokens(Transport(base_url=fake.url), clock=lambda: now[0])
    first = access_tokens.get(REFRESH)
    fake.rejected_refresh.add(REFRESH)  # only the rotated token still works from here on
    now[0] = 10_000_000_000.0  # far past the access token's exp
    second = access_tokens.get(REFRESH)
    assert second.token != first.token and fake.refresh_calls == 2
    assert fake.requests[-2].headers["authorization"].startswith("Bearer rt-")


def test_an_access_token_near_its_expiry_is_not_served(fake, access_tokens):
    fake.access_ttl = 30  # under the 60 s renewal margin
    access_tokens.get(REFRESH)
    access_tokens.get(REFRESH)
    assert fake.refresh_calls == 2


def test_drop_forgets_the_access_token(fake, access_tokens):
    access_tokens.get(REFRESH)
    access_tokens.drop(REFRESH)
    access_tokens.get(REFRESH)
    assert fake.refresh_calls == 2


def legacy_client(fake):
    return LegacyClient(base_url=fake.url, models=ModelTable(load_models()), read_timeout=5)


def ask(client):
    stream = client.open_chat(ChatRequest(model="kimi", messages=[Message("user", "Hi there")]), REFRESH)
    try:
        return list(stream)
    finally:
        stream.close()


def test_a_401_drops_the_cached_token_and_the_next_request_refreshes(fake):
    client = legacy_client(fake)
    ask(client)
    fake.revoke()  # every access token issued so far now answers 401
    with pytest.raises(errors.AuthRejected, match="no longer valid"):
        ask(client)
    assert ask(client)[-1].reason == "stop"
    assert fake.refresh_calls == 2


def test_auth_token_invalid_in_the_stream_drops_the_cached_token(fake):
    client = legacy_client(fake)
    fake.error("auth.token.invalid", "authorization expired")
    with pytest.raises(errors.AuthRejected):
        ask(client)
    ask(client)
    assert fake.refresh_calls == 2
