"""The account pool on a real file store and the fake account service: least-recently-used choice,
stream caps, cooldowns, skipped accounts, renewing tokens once however many ask at once, and keeping
the refresh tokens Kimi rotates for legacy accounts (on both store backends)."""
import multiprocessing
import threading

import pytest

from kimi.errors import AuthRejected, RateLimited
from gateway.pool import AccountPool
from kimi.refresh import AccountCalls
from gateway.registry import Registry
from gateway.store import FileStore
from kimi.transport import Endpoints
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways


def make_pool(data_dir, fake, **options) -> AccountPool:
    calls = AccountCalls(endpoints=Endpoints(**fake.call_urls()))
    return AccountPool(FileStore(data_dir), calls, **options)


@pytest.fixture
def pool(tmp_path, kimi_auth):
    return make_pool(tmp_path, kimi_auth, max_streams=2, cooldown_seconds=30)


@pytest.fixture
def registry(pool):
    return Registry(pool)


def add(registry, sub, **jwt_options):
    view, _ = registry.save(make_jwt(sub=sub, **jwt_options), None, label=sub)
    return view["id"]


def test_requests_go_to_the_least_recently_used_account(pool, registry):
    ids = [add(registry, f"user{n:016d}") for n in range(3)]
    used = []
    for _ in range(6):
        lease = pool.acquire()
        used.append(lease.account_id)
        lease.release()
    assert sorted(used[:3]) == sorted(ids) and used[3:] == used[:3]


def test_an_account_serves_at_most_its_stream_cap_at_once(pool, registry):
    add(registry, "onlyuser000000000001")
    first, second = pool.acquire(), pool.acquire()
    with pytest.raises(RateLimited) as caught:
        pool.acquire()
    assert caught.value.code == "accounts_busy" and caught.value.retry_after
    first.release()
    first.release()  # a second release changes nothing
    pool.acquire().release()
    second.release()


def test_expired_disabled_and_rejected_accounts_are_skipped(pool, registry):
    good = add(registry, "gooduser000000000001")
    pool.store.modify("accounts", lambda records: records[good].update(access_token=make_jwt(expires_in=5)))
    registry.set_disabled(add(registry, "disableduser00000001"), True)
    pool.reject(add(registry, "rejecteduser00000001"), "Kimi: unauthenticated")
    with pytest.raises(AuthRejected) as caught:
        pool.acquire()
    message = caught.value.message
    assert "1 disabled" in message and "1 expired" in message and "1 rejected by Kimi" in message
    assert "/auth" in message and caught.value.code == "no_usable_account"


def test_an_empty_pool_says_how_to_add_an_account(pool):
    with pytest.raises(AuthRejected, match="/auth") as caught:
        pool.acquire()
    assert caught.value.code == "no_account"


def test_a_cooling_account_is_skipped_and_when_all_cool_the_wait_is_told(pool, registry):
    first, second = add(registry, "firstuser00000000001"), add(registry, "seconduser0000000001")
    pool.cool_down(first, "Kimi: resource_exhausted")
    lease = pool.acquire()
    assert lease.account_id == second
    lease.release()
    pool.cool_down(second, "Kimi: resource_exhausted", seconds=10)
    with pytest.raises(RateLimited) as caught:
        pool.acquire()
    assert caught.value.code == "accounts_cooling_down" and 9 <= caught.value.retry_after <= 10
    assert registry.view(first)["state"] == "cooling" and registry.view(first)["cooldown_until"]


def test_the_account_that_opened_a_chat_is_preferred(pool, registry):
    ids = [add(registry, f"user{n:016d}") for n in range(3)]
    lease = pool.acquire()
    lease.release(chat_id="chat-1")
    assert pool.account_for_chat("chat-1") == lease.account_id
    for _ in range(3):
        again = pool.acquire(prefer=pool.account_for_chat("chat-1"))
        assert again.account_id == lease.account_id
        again.release()
    assert lease.account_id in ids


def test_an_account_near_expiry_is_renewed_and_the_rotated_refresh_token_kept(pool, registry, kimi_auth):
    refresh = kimi_auth.issue_refresh("renewuser00000000001")
    registry.save(make_jwt(sub="renewuser00000000001", expires_in=20), refresh)
    lease = pool.acquire()
    [(access, rotated)] = kimi_auth.issued
    assert lease.token == access and kimi_auth.refresh_calls == [refresh]
    record = pool.store.read("accounts")[lease.account_id]
    assert (record["access_token"], record["refresh_token"]) == (access, rotated)
    assert registry.view(lease.account_id)["can_renew"] is True


def test_a_refresh_only_account_becomes_usable_through_renewal(pool, registry, kimi_auth):
    registry.save(kimi_auth.issue_refresh("legacyuser0000000001"), None)
    assert registry.views()[0]["state"] == "active" and not registry.views()[0]["has_access_token"]
    assert pool.acquire().token == kimi_auth.issued[0][0]


def test_concurrent_requests_renew_once(pool, registry, kimi_auth):
    kimi_auth.refresh_delay = 0.3
    registry.save(make_jwt(sub="manyuser000000000001", expires_in=10), kimi_auth.issue_refresh("manyuser000000000001"))
    pool.max_streams = 0
    tokens = []
    threads = [threading.Thread(target=lambda: tokens.append(pool.acquire().token)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kimi_auth.refresh_calls) == 1 and set(tokens) == {kimi_auth.issued[0][0]}


def test_an_uncapped_account_writes_down_no_open_stream(pool, registry):
    """With ACCOUNT_MAX_STREAMS=0 nothing counts open streams: none is kept, so the runtime section every
    request rewrites does not grow with a burst of a thousand streams on one account."""
    view, _ = registry.save(make_jwt(sub="burstuser00000000001"), None)
    pool.max_streams = 0
    leases = [pool.acquire() for _ in range(50)]
    assert pool.store.read("runtime")[view["id"]]["streams"] == {}
    for lease in leases:
        lease.release()
    pool.max_streams = 2
    held = [pool.acquire(), pool.acquire()]
    assert len(pool.store.read("runtime")[view["id"]]["streams"]) == 2
    with pytest.raises(RateLimited):
        pool.acquire()
    held[0].release()
    assert len(pool.store.read("runtime")[view["id"]]["streams"]) == 1


def _renew_in_process(data_dir, urls, account_id, stale, start, results):
    calls = AccountCalls(endpoints=Endpoints(**urls))
    pool = AccountPool(FileStore(data_dir), calls)
    start.wait(30)
    results.put(pool.renew(account_id, stale))


def test_workers_in_several_processes_renew_once(tmp_path, pool, registry, kimi_auth):
    kimi_auth.refresh_delay = 0.5
    stale = make_jwt(sub="procuser000000000001", expires_in=10)
    account_id = registry.save(stale, kimi_auth.issue_refresh("procuser000000000001"))[0]["id"]
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_renew_in_process,
                               args=(str(tmp_path), kimi_auth.call_urls(), account_id, stale, start, results))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    start.set()
    renewed = {results.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(30)
    assert len(kimi_auth.refresh_calls) == 1 and renewed == {kimi_auth.issued[0][0]}
    results.close()
    results.join_thread()


def test_a_refused_refresh_marks_the_account_for_reimport_and_another_serves(pool, registry, kimi_auth):
    healthy = add(registry, "healthyuser000000001")
    pool.acquire().release()  # used just now, so the never-used account below comes first
    doomed = registry.save(make_jwt(sub="doomeduser0000000001", expires_in=10), "refresh-token-kimi-forgot")[0]["id"]
    assert pool.acquire().account_id == healthy
    assert kimi_auth.refresh_calls == ["refresh-token-kimi-forgot"]
    view = registry.view(doomed)
    assert view["state"] == "reimport" and view["reason"] == (
        "Kimi refused the refresh token (HTTP 401: invalid claims). Save the account again on /auth. "
        "Logging in to Kimi in a browser with the same session (or using that session's tokens elsewhere) "
        "can log this gateway out: import a login of its own.")


def test_a_check_marks_a_dead_token_rejected_and_clears_it_when_live_again(pool, registry, kimi_auth):
    token = make_jwt(sub="checkuser00000000001")
    account_id = registry.save(token, None)[0]["id"]
    kimi_auth.revoked_access.add(token)
    assert registry.check(account_id)["state"] == "rejected"
    kimi_auth.revoked_access.clear()
    assert registry.check(account_id)["state"] == "active"


def test_a_refresh_token_the_connect_refresh_refuses_is_lent_to_the_legacy_path(pool, registry):
    refresh = make_jwt(sub="legacyaccount0000001", typ="refresh", expires_in=90 * 86400)
    view, _ = registry.save(refresh, None, label="legacy")
    lease = pool.acquire()
    assert (lease.account_id, lease.token) == (view["id"], refresh)
    lease.release()
    assert pool.store.read("accounts")[view["id"]]["legacy"] is True
    assert pool.acquire().token == refresh  # no second Connect refresh attempt for it


def save_legacy_account(pool) -> tuple[str, str]:
    """(id, refresh token) of a saved account the Connect refresh refuses, so the pool lends it as legacy."""
    refresh = make_jwt(sub="legacyowner000000001", typ="refresh", expires_in=90 * 86400)
    account_id = Registry(pool).save(refresh, None)[0]["id"]
    pool.acquire().release()
    assert pool.store.read("accounts")[account_id]["legacy"] is True
    return account_id, refresh


def test_a_rotated_refresh_token_replaces_the_legacy_accounts_own_and_is_lent(open_pool):
    pool = open_pool()
    account_id, refresh = save_legacy_account(pool)
    assert pool.keep_rotated_refresh_token(refresh, "rt-rotated-0001") is True
    assert pool.store.read("accounts")[account_id]["refresh_token"] == "rt-rotated-0001"
    assert pool.acquire().token == "rt-rotated-0001"


def test_a_rotation_clears_a_rejection_recorded_against_the_token_kimi_just_accepted(open_pool):
    # Two workers refresh the same one-use token at once: the loser's refusal may be recorded before
    # the winner stores the rotated token. The account must stay lendable with that token.
    pool = open_pool()
    account_id, refresh = save_legacy_account(pool)
    pool.reject(account_id, "Kimi refused the refresh token.", token=refresh)
    assert pool.store.read("accounts")[account_id]["rejected"]
    assert pool.keep_rotated_refresh_token(refresh, "rt-rotated-0002") is True
    assert pool.acquire().token == "rt-rotated-0002"


def test_a_rotation_of_a_token_the_account_no_longer_holds_changes_nothing(open_pool):
    pool = open_pool()
    account_id, refresh = save_legacy_account(pool)
    pool.keep_rotated_refresh_token(refresh, "rt-stored-first")
    assert pool.keep_rotated_refresh_token(refresh, "rt-came-second") is False
    assert pool.store.read("accounts")[account_id]["refresh_token"] == "rt-stored-first"


def test_tokens_no_legacy_account_holds_are_not_stored(open_pool, kimi_auth):
    pool = open_pool()
    save_legacy_account(pool)
    connect_refresh = kimi_auth.issue_refresh("connectuser000000001")
    Registry(pool).save(make_jwt(sub="connectuser000000001"), connect_refresh)
    before = pool.store.read("accounts")
    assert pool.keep_rotated_refresh_token("rt-a-callers-own-token", "rt-its-successor") is False
    assert pool.keep_rotated_refresh_token(connect_refresh, "rt-its-successor") is False
    assert pool.store.read("accounts") == before


def test_two_workers_rotating_the_same_token_at_once_store_exactly_one(open_pool):
    first, second = open_pool(), open_pool()
    account_id, refresh = save_legacy_account(first)
    start = threading.Barrier(2)
    taken = {}

    def rotate(pool, new):
        start.wait()
        taken[new] = pool.keep_rotated_refresh_token(refresh, new)

    threads = [threading.Thread(target=rotate, args=(pool, new))
               for pool, new in ((first, "rt-from-worker-1"), (second, "rt-from-worker-2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [winner] = [new for new, is_taken in taken.items() if is_taken]
    assert second.store.read("accounts")[account_id]["refresh_token"] == winner
