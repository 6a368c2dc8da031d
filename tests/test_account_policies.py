"""The policies that keep the owner's Kimi accounts safe: a daily cap and a spacing between request starts
refusing exactly past their limit in every API's error shape (with Retry-After), a short wait for the
spacing instead of a refusal, Kimi's own Retry-After setting the rest, and the circuit that stops lending
an account Kimi keeps refusing until a passing check. Clocks are moved, never slept on."""
import math
import time

import pytest

from blueprints.upstream import services
from gateway.policies import seconds_to_midnight
from kimi.errors import AuthRejected, RateLimited
from tests.support.api_formats import ERROR_TYPES, FORMATS, error_message
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways

ACCOUNT = make_jwt(sub="policyaccount0000001")


def with_account(app, token=ACCOUNT):
    view, _ = services(app).registry.save(token, None)
    return view["id"]


class MovingClock:
    """A clock the pool reads, moved by the test (and by the pool's own waits, which take no time)."""

    def __init__(self):
        self.now = time.time()
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(app):
    pool = services(app).pool
    moving = MovingClock()
    pool.clock, pool.sleep = moving, moving.sleep
    return moving


@pytest.mark.app("admin", account_daily_cap=2)
@pytest.mark.parametrize("api", FORMATS.values(), ids=FORMATS)
def test_the_daily_cap_serves_its_last_request_and_refuses_the_next_in_each_format(app, kimi, api):
    with_account(app)
    client = app.test_client()
    assert [api.call(client).status_code for _ in range(2)] == [200, 200]
    refused = api.call(client)
    assert refused.status_code == 429 and api.error_type(refused.json) == ERROR_TYPES[429][api.name]
    assert abs(int(refused.headers["Retry-After"]) - seconds_to_midnight(time.time())) <= 1
    assert "ACCOUNT_DAILY_CAP" in error_message(refused.json) and len(kimi.requests) == 2


@pytest.mark.app("admin", account_min_interval=3600, account_interval_wait=0)
@pytest.mark.parametrize("api", FORMATS.values(), ids=FORMATS)
def test_the_spacing_between_request_starts_refuses_an_early_request_in_each_format(app, kimi, api):
    with_account(app)
    client = app.test_client()
    assert api.call(client).status_code == 200
    refused = api.call(client)
    assert refused.status_code == 429 and api.error_type(refused.json) == ERROR_TYPES[429][api.name]
    assert refused.headers["Retry-After"] == "3600"
    assert "ACCOUNT_MIN_INTERVAL" in error_message(refused.json) and len(kimi.requests) == 1


@pytest.mark.app("admin", account_min_interval=3600, account_interval_wait=0)
def test_the_refusal_codes_name_the_limit_that_was_hit(app, kimi):
    with_account(app)
    client = app.test_client()
    FORMATS["openai"].call(client)
    assert FORMATS["openai"].call(client).json["error"]["code"] == "accounts_min_interval"


@pytest.mark.app("admin", account_min_interval=3, account_interval_wait=5)
def test_a_request_waits_out_a_short_spacing_instead_of_failing(app, clock):
    with_account(app)
    pool = services(app).pool
    pool.acquire().release()
    clock.now += 1
    pool.acquire().release()
    assert clock.slept == [2]


@pytest.mark.app("admin", account_min_interval=10, account_interval_wait=5)
def test_a_spacing_longer_than_the_wait_is_refused_at_once(app, clock):
    with_account(app)
    pool = services(app).pool
    pool.acquire().release()
    with pytest.raises(RateLimited) as caught:
        pool.acquire()
    assert (caught.value.code, caught.value.retry_after, clock.slept) == ("accounts_min_interval", 10, [])


@pytest.mark.app("admin")
def test_an_accounts_own_daily_cap_overrides_the_default_and_another_account_serves(app, clock):
    capped, other = with_account(app), with_account(app, make_jwt(sub="policyaccount0000002"))
    services(app).registry.set_policy(capped, None, 1)
    pool = services(app).pool
    used = []
    for _ in range(3):
        lease = pool.acquire(prefer=capped)
        used.append(lease.account_id)
        lease.release()
    assert used == [capped, other, other]


@pytest.mark.app("admin", account_daily_cap=1)
def test_the_daily_cap_starts_again_at_midnight_utc(app, clock):
    with_account(app, make_jwt(sub="policyaccount0000003", expires_in=3 * 86400))
    pool = services(app).pool
    pool.acquire().release()
    with pytest.raises(RateLimited) as caught:
        pool.acquire()
    clock.now += caught.value.retry_after
    pool.acquire().release()


RETRY_DELAY_ERROR = {"code": "resource_exhausted", "message": "slow down",
                     "details": [{"type": "google.rpc.RetryInfo", "debug": {"retryDelay": "42.5s"}}]}
KIMI_RATE_LIMITS = {
    "retry_after_header": (lambda kimi: kimi.http_error(429, b'{"code":"resource_exhausted"}',
                                                       headers={"Retry-After": "137"}), 137),
    "connect_retry_delay": (lambda kimi: kimi.frames([(2, {"error": RETRY_DELAY_ERROR})]), 43),
    "neither": (lambda kimi: kimi.http_error(429, b'{"code":"resource_exhausted"}'), 60),  # ACCOUNT_COOLDOWN_SECONDS
}


@pytest.mark.app("admin", account_cooldown_seconds=60)
@pytest.mark.parametrize("script, rest", KIMI_RATE_LIMITS.values(), ids=KIMI_RATE_LIMITS)
@pytest.mark.parametrize("api", [FORMATS["openai"], FORMATS["anthropic"]], ids=["openai", "anthropic"])
def test_the_account_rests_exactly_as_long_as_kimi_says(app, kimi, script, rest, api):
    account_id = with_account(app)
    script(kimi)
    refused = api.call(app.test_client())
    assert refused.status_code == 429 and refused.headers["Retry-After"] == str(rest)
    status = services(app).store.read("runtime")[account_id]
    assert status["cooldown_until"] - status["last_error_at"] == rest


def refuse(pool, clock, account_id):
    """Kimi rate-limits the account once; the clock then moves past its rest."""
    pool.cool_down(account_id, "Kimi: resource_exhausted", seconds=10)
    clock.now += 11


@pytest.mark.app("admin", account_circuit_refusals=3)
def test_the_circuit_opens_at_the_third_refusal_in_a_row_and_a_passing_check_closes_it(app, clock):
    account_id = with_account(app)
    pool, registry = services(app).pool, services(app).registry
    for _ in range(2):
        refuse(pool, clock, account_id)
    pool.acquire().release()  # two refusals in a row: still lent
    refuse(pool, clock, account_id)
    with pytest.raises(AuthRejected) as caught:
        pool.acquire()
    assert caught.value.code == "accounts_circuit_open" and "/auth" in caught.value.message
    assert registry.view(account_id)["state"] == "circuit"
    assert registry.view(account_id)["health"]["circuit_open"] is True
    assert registry.check(account_id)["live"] is True
    assert registry.view(account_id)["state"] == "active"
    pool.acquire().release()


@pytest.mark.app("admin", account_circuit_refusals=3)
def test_a_success_resets_the_refusals_in_a_row(app, clock):
    account_id = with_account(app)
    pool = services(app).pool
    for _ in range(2):
        refuse(pool, clock, account_id)
    lease = pool.acquire()
    lease.succeeded = True  # as lending marks it when Kimi answered
    lease.release()
    for _ in range(2):
        refuse(pool, clock, account_id)
    pool.acquire().release()
    health = services(app).registry.view(account_id)["health"]
    assert (health["refusals_in_a_row"], health["refusals_today"], health["circuit_open"]) == (2, 4, False)
    assert math.isclose(health["last_success_at"], clock.now - 22)


@pytest.mark.app("admin", account_circuit_refusals=3)
def test_kimis_refusals_through_the_api_open_the_circuit(app, kimi):
    account_id = with_account(app)
    client = app.test_client()
    for _ in range(3):
        kimi.http_error(429, b'{"code":"resource_exhausted"}', headers={"Retry-After": "5"})
        assert FORMATS["openai"].call(client).status_code == 429
        services(app).store.modify("runtime", lambda runtime: runtime[account_id].pop("cooldown_until"))
    refused = FORMATS["gemini"].call(client)
    assert refused.status_code == 401 and "check" in error_message(refused.json)
    assert len(kimi.requests) == 3


@pytest.mark.app("admin")
def test_a_served_request_notes_its_success_in_the_health_line(app, kimi):
    account_id = with_account(app)
    assert FORMATS["openai"].call(app.test_client()).status_code == 200
    health = services(app).registry.view(account_id)["health"]
    assert health["last_success_at"] and health["requests_today"] == 1 and health["refusals_in_a_row"] == 0
