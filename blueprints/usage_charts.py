"""The usage dashboard's charts, drawn from a UsageSummary (gateway/usage.py) with blueprints/charts.py.

Pure: the summary, the names of keys and accounts and the page texts in; BarCharts out.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping, Sequence

from blueprints.charts import BarChart, Part
from gateway.usage import LOCAL_CALLER, OWN_TOKEN, Totals, UsageSummary

_BUCKET_FORMAT = {"24h": "%H:%M", "7d": "%m-%d"}


def build_usage_charts(summary: UsageSummary, key_names: Mapping[str, str], account_names: Mapping[str, str],
                       t: Mapping[str, str]) -> list[BarChart]:
    """Requests and tokens over the span, then requests per key and per account (those with any)."""
    times = tuple(bucket_label(summary, start) for start in summary.starts)
    axis = t["console_axis_hour"] if summary.span == "24h" else t["console_axis_day"]
    points = summary.overall.points
    charts = [
        BarChart("chart-requests", t["console_chart_requests"], axis, t["console_requests"], times,
                 _ok_and_errors(points, t)),
        BarChart("chart-tokens", t["console_chart_tokens"], axis, t["console_tokens"], times,
                 (Part(t["console_tokens_in"], "in", tuple(p.tokens_in for p in points)),
                  Part(t["console_tokens_out"], "out", tuple(p.tokens_out for p in points)))),
    ]
    for chart_id, title, axis_name, series, names in (
            ("chart-keys", "console_chart_keys", "console_axis_key", summary.keys, key_names),
            ("chart-accounts", "console_chart_accounts", "console_axis_account", summary.accounts, account_names)):
        if series:
            charts.append(BarChart(chart_id, t[title], t[axis_name], t["console_requests"],
                                   tuple(subject_name(s.subject, names, t) for s in series),
                                   _ok_and_errors([s.totals for s in series], t), horizontal=True))
    return charts


def bucket_label(summary: UsageSummary, start: float) -> str:
    return datetime.fromtimestamp(start, timezone.utc).strftime(_BUCKET_FORMAT.get(summary.span, "%m-%d %H:%M"))


def subject_name(subject: str, names: Mapping[str, str], t: Mapping[str, str]) -> str:
    """A key's or account's name for people: its label, the callers it stands for, or its id when gone."""
    if subject == LOCAL_CALLER:
        return t["console_local_caller"]
    if subject == OWN_TOKEN:
        return t["console_own_token"]
    return names.get(subject) or subject


def _ok_and_errors(totals: Sequence[Totals], t: Mapping[str, str]) -> tuple[Part, Part]:
    return (Part(t["console_ok"], "ok", tuple(p.requests - p.errors for p in totals)),
            Part(t["console_errors"], "error", tuple(p.errors for p in totals)))

