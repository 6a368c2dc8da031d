"""The owner's console under the /auth login: usage (/auth/usage), the request log (/auth/requests) and the
audit log (/auth/audit). Read-only pages on the /auth page's layout, session and security headers.

Data comes from gateway/usage.py's counters and request log and gateway/audit.py; charts are drawn here,
as SVG, by blueprints/usage_charts.py. Texts are configs/strings.yaml's console_* and audit_* keys.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional, Union

from flask import Blueprint, redirect, render_template, request, url_for

from blueprints import admin, i18n
from blueprints.auth import page_headers
from blueprints.charts import render_chart
from blueprints.curl import render_curl
from blueprints.upstream import services
from blueprints.usage_charts import build_usage_charts, subject_name
from gateway.usage import LOCAL_CALLER, OWN_TOKEN, SPANS
from kimi.errors import KimiError

bp = Blueprint("console", __name__)
bp.after_request(page_headers)  # the same CSP, no framing, no caching as /auth

STATUS_CHOICES = ("2xx", "4xx", "5xx", "429")
LOG_ROWS = 200


@bp.before_request
def require_login():
    # Read-only pages: a visitor without a session is sent to the login form.
    if not admin.is_admin():
        return redirect(url_for("auth.page"), 303)
    return None


@bp.get("/auth/usage")
def usage():
    span = request.args.get("span") if request.args.get("span") in SPANS else "24h"
    summary = services().usage.summary(span)
    t, keys, accounts = _texts(), _key_names(), _account_names()
    charts = build_usage_charts(summary, keys, accounts, t)
    # The same figures per key and per account, as tables: what the charts draw, and what they cannot.
    tables = [("keys", t["console_per_key"], [(subject_name(s.subject, keys, t), s.totals) for s in summary.keys]),
              ("accounts", t["console_per_account"],
               [(subject_name(s.subject, accounts, t), s.totals) for s in summary.accounts])]
    return _render("auth/console_usage.html", span=span, spans=tuple(SPANS), totals=summary.overall.totals,
                   charts=[render_chart(chart) for chart in charts], tables=tables)


@bp.get("/auth/requests")
def requests_log():
    filters = {name: request.args.get(name, "").strip() for name in ("key", "account", "status", "model")}
    status: Union[int, str, None] = filters["status"] if filters["status"] in STATUS_CHOICES else None
    if status == "429":
        status = 429
    entries = services().requests_log.entries(key=filters["key"] or None, account=filters["account"] or None,
                                              status=status, model=filters["model"] or None, limit=LOG_ROWS)
    base_url, fallback = request.host_url.rstrip("/"), services().router.models.default_id
    keys, accounts, t = _key_names(), _account_names(), _texts()
    rows = [{"entry": entry, "key": entry.key_label or subject_name(entry.key_id, keys, t),
             "account": subject_name(entry.account, accounts, t) if entry.account else "",
             "curl": render_curl(entry, base_url, fallback)} for entry in entries]
    return _render("auth/console_requests.html", rows=rows, filters=filters, status_choices=STATUS_CHOICES,
                   key_choices=_choices(keys, LOCAL_CALLER, OWN_TOKEN),
                   account_choices=_choices(accounts, OWN_TOKEN))


@bp.get("/auth/audit")
def audit():
    names = {**_account_names(), **_key_names()}
    entries = [{"entry": entry, "target": names.get(entry.target, "")} for entry in services().audit.entries()]
    return _render("auth/console_audit.html", entries=entries, days=services().settings["audit_log_days"])


@bp.errorhandler(KimiError)
def console_error(err: KimiError):
    return _render("auth/console_base.html", error=err.message), err.status, err.response_headers()


@bp.app_context_processor
def console_context() -> dict[str, Any]:
    # The console's navigation is included on /auth too, and shows the banner there as well.
    return {"console_log_bodies": services().settings["log_bodies"]}


@bp.app_template_filter("when_seconds")
def when_seconds(value: float) -> str:
    """Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (the request log tells requests of one minute apart)."""
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("milliseconds")
def milliseconds(value: Optional[float]) -> str:
    """340 ms, 1.2 s, or — when there was none (no first byte)."""
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def _key_names() -> dict[str, str]:
    return {key["id"]: key["label"] or key["prefix"] for key in services().keyring.views()}


def _account_names() -> dict[str, str]:
    return {account["id"]: account["label"] or account["user_id"] or account["token_prefix"]
            for account in services().registry.views()}


def _choices(names: dict[str, str], *special: str) -> list[tuple[str, str]]:
    """(value, text) of a filter's options: the named subjects, then the callers no key or account names."""
    t = _texts()
    return [*names.items(), *((subject, subject_name(subject, names, t)) for subject in special)]


def _texts() -> dict[str, str]:
    return i18n.strings(i18n.choose_language(request.args, request.cookies))


def _render(template: str, **context: Any) -> str:
    return render_template(template, csrf_token=admin.csrf_token(), messages=[], **context)
