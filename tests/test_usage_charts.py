"""The dashboard's charts from a constructed UsageSummary (blueprints/usage_charts.py): which charts, their
bucket times, ok and errors apart, tokens in and out, and the names of keys, accounts and keyless callers."""
from datetime import datetime, timezone

from blueprints.i18n import strings
from blueprints.usage_charts import build_usage_charts
from gateway.usage import LOCAL_CALLER, OWN_TOKEN, Series, Totals, UsageSummary

T = strings("en")
DAY = datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp()


def series(subject, *points):
    totals = Totals(sum(p.requests for p in points), sum(p.errors for p in points))
    return Series(subject, points, totals)


def summary(span="24h", keys=(), accounts=()):
    step = 3600 if span == "24h" else 86400
    overall = series("all", Totals(5, 1, 100, 300), Totals(0, 0), Totals(2, 2, 40, 0))
    return UsageSummary(span, step, (DAY, DAY + step, DAY + 2 * step), overall, keys, accounts)


def test_requests_and_tokens_over_the_hours_split_ok_from_errors_and_in_from_out():
    requests, tokens = build_usage_charts(summary(), {}, {}, T)
    assert (requests.title, requests.category_label, requests.categories) == (
        "Requests over time (OK and errors)", "Hour (UTC)", ("00:00", "01:00", "02:00"))
    assert [(part.name, part.values) for part in requests.parts] == [("OK", (4, 0, 0)), ("Errors", (1, 0, 2))]
    assert [(part.kind, part.values) for part in tokens.parts] == [("in", (100, 0, 40)), ("out", (300, 0, 0))]


def test_a_week_is_labelled_by_day():
    requests, _ = build_usage_charts(summary("7d"), {}, {}, T)
    assert (requests.category_label, requests.categories) == ("Day (UTC)", ("03-01", "03-02", "03-03"))


def test_keys_and_accounts_are_compared_by_name_with_keyless_callers_in_words():
    keys = (series("k1", Totals(3, 1)), series(LOCAL_CALLER, Totals(2, 0)), series("gone", Totals(1, 0)))
    accounts = (series("a1", Totals(4, 1)), series(OWN_TOKEN, Totals(1, 0)))
    charts = build_usage_charts(summary(keys=keys, accounts=accounts), {"k1": "ci"}, {"a1": "main"}, T)
    per_key, per_account = charts[2:]
    assert per_key.horizontal and per_key.categories == ("ci", "local, no key", "gone")
    assert [part.values for part in per_key.parts] == [(2, 2, 1), (1, 0, 0)]
    assert per_account.categories == ("main", "caller's own token")


def test_no_comparison_is_drawn_without_keys_or_accounts():
    assert [chart.id for chart in build_usage_charts(summary(), {}, {}, T)] == ["chart-requests", "chart-tokens"]
