"""Usage counts per hour (gateway/usage_book.py): what record() buffers reaches the store at flush(), and
summary() reads it back per key and per account in hours over a day or days over a week."""
import pytest

from gateway.request_log import RequestLog
from gateway.store import FileStore
from gateway.usage import LOCAL_CALLER, OWN_TOKEN, RequestEntry, Totals
from gateway.usage_book import UsageBook

DAY, HOUR = 86400, 3600
NOW = 1_000 * DAY + 10 * HOUR + 600  # 10:10 UTC


def entry(at, key="k1", account="a1", status=200, error="", first_byte_ms=100.0, tokens=(10, 20)):
    return RequestEntry(at=at, request_id=f"r{at}", method="POST", path="/v1/chat/completions", api="openai",
                        key_id=key, key_label="", account=account, status=status, error=error,
                        first_byte_ms=first_byte_ms, tokens_in=tokens[0], tokens_out=tokens[1])


@pytest.fixture
def store(tmp_path):
    opened = FileStore(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def book(store):
    return UsageBook(store, RequestLog(store, keep_days=3, clock=lambda: NOW), clock=lambda: NOW)


def test_nothing_reaches_the_store_before_a_flush(book, store):
    book.record(entry(NOW))
    assert book.summary("24h").overall.totals == Totals()
    assert store.read_rows("requests", 0, 10) == []
    book.flush()
    assert book.summary("24h").overall.totals.requests == 1
    assert len(store.read_rows("requests", 0, 10)) == 1


def test_a_day_is_24_hours_split_by_key_and_account(book):
    for at, key, account in [(NOW, "k1", "a1"), (NOW - 60, "k1", "a2"), (NOW - HOUR, LOCAL_CALLER, "a1"),
                             (NOW - 23 * HOUR, OWN_TOKEN, OWN_TOKEN), (NOW - 24 * HOUR, "k1", "a1")]:
        book.record(entry(at, key, account))
    book.flush()
    day = book.summary("24h")
    assert day.bucket_seconds == HOUR and len(day.starts) == 24
    assert day.starts[-1] == NOW - 600 and day.starts[0] == NOW - 600 - 23 * HOUR
    assert [p.requests for p in day.overall.points] == [1] + [0] * 21 + [1, 2]  # the day before is left out
    assert [(s.subject, s.totals.requests) for s in day.keys] == [("k1", 2), (LOCAL_CALLER, 1), (OWN_TOKEN, 1)]
    assert [(s.subject, s.totals.requests) for s in day.accounts] == [("a1", 2), ("a2", 1), (OWN_TOKEN, 1)]  # ties by name
    assert day.overall.totals == Totals(requests=4, tokens_in=40, tokens_out=80, median_first_byte_ms=98.7)  # 100 ms: bucket 26, 2 ** (26.5 / 4)


def test_a_week_is_7_days_with_errors_by_kind(book):
    book.record(entry(NOW, status=401, error="invalid_api_key", key=""))
    book.record(entry(NOW - 2 * DAY, status=429, error="key_rate_limited"))
    book.record(entry(NOW - 6 * DAY, error="internal"))  # a stream that failed after its 200
    book.record(entry(NOW - 7 * DAY))  # before the week
    book.flush()
    week = book.summary("7d")
    assert week.bucket_seconds == DAY and week.starts == tuple(1_000 * DAY - n * DAY for n in range(6, -1, -1))
    assert [p.errors for p in week.overall.points] == [1, 0, 0, 0, 1, 0, 1]
    assert week.overall.totals.errors_by_kind == {"internal": 1, "invalid_api_key": 1, "key_rate_limited": 1}
    assert [(s.subject, s.totals.errors) for s in week.keys] == [("k1", 2)]  # the refused unnamed caller: overall only


def test_the_median_time_to_first_byte_is_read_across_workers(store):
    one, two = UsageBook(store, clock=lambda: NOW), UsageBook(store, clock=lambda: NOW)
    for ms in (10, 20, 400):
        one.record(entry(NOW, first_byte_ms=ms))
    for ms in (500, 600):
        two.record(entry(NOW, first_byte_ms=ms))
    one.flush(), two.flush()
    median = one.summary("24h").overall.totals.median_first_byte_ms
    assert 400 / 1.19 < median < 400 * 1.19  # the middle of the five, within its bucket's width
