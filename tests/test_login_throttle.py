"""The admin login throttle over a real file store, on a clock the test moves: guessers wait longer and
longer, parallel guesses queue, strangers never delay the owner until the global ceiling, and nothing
but a full queue ever refuses a check."""
import pytest

from gateway.login_throttle import LoginThrottle
from gateway.store import FileStore
from kimi.errors import RateLimited


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttle(tmp_path, clock):
    return LoginThrottle(FileStore(tmp_path), free_failures=2, max_delay=8, ceiling=100, max_wait=20, clock=clock)


def guess(throttle, clock, client="198.51.100.1"):
    """One wrong guess made as soon as its turn comes; how long it waited."""
    wait = throttle.reserve(client)
    clock.now += wait
    throttle.record_failure(client)
    return wait


def test_a_guesser_waits_longer_after_each_failure_up_to_the_longest_delay(throttle, clock):
    assert [guess(throttle, clock) for _ in range(8)] == [0, 0, 0, 1, 2, 4, 8, 8]


def test_a_strangers_failures_do_not_delay_another_client(throttle, clock):
    for _ in range(6):
        guess(throttle, clock)
    assert throttle.reserve("203.0.113.5") == 0


def test_parallel_guesses_from_one_client_queue_and_a_full_queue_is_refused(throttle, clock):
    for _ in range(3):
        guess(throttle, clock)  # the gap is now 2 seconds
    assert [throttle.reserve("198.51.100.1") for _ in range(4)] == [1, 3, 5, 7]
    for _ in range(6):
        throttle.reserve("198.51.100.1")
    with pytest.raises(RateLimited) as refused:
        throttle.reserve("198.51.100.1")
    assert refused.value.code == "too_many_logins" and refused.value.retry_after == 1


def test_past_the_global_ceiling_every_client_takes_turns(tmp_path, clock):
    throttle = LoginThrottle(FileStore(tmp_path), free_failures=2, max_delay=8, ceiling=360, max_wait=20, clock=clock)
    for n in range(360):  # one failure from each of many addresses: none of them is slowed by its own
        guess(throttle, clock, client=f"10.0.{n // 250}.{n % 250}")
    assert [throttle.reserve(f"203.0.113.{n}") for n in range(3)] == [0, 10, 20]
    with pytest.raises(RateLimited) as refused:
        throttle.reserve("203.0.113.9")
    assert refused.value.retry_after == 10
    clock.now += 3600
    assert throttle.reserve("203.0.113.9") == 0  # a new hour starts afresh


def test_a_client_is_forgotten_when_its_window_ends(throttle, clock):
    for _ in range(6):
        guess(throttle, clock)
    clock.now += 15 * 60
    assert [guess(throttle, clock) for _ in range(3)] == [0, 0, 0]
