"""The /auth page: admin login, saving Kimi accounts, their states and actions, and proxy API keys.

Plain HTML forms, each carrying a CSRF token; static/auth/auth.js adds the token preview (through
POST /auth/extract) and live expiry countdowns. Bahasa Indonesia by default; ?lang=en switches to
English and a cookie remembers the choice.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from flask import Blueprint, current_app, flash, g, get_flashed_messages, redirect, render_template, request, url_for

from blueprints import admin
from blueprints.auth_text import LANGUAGES, TEXT
from blueprints.upstream import keyring
from kimi import accounts, tokens
from kimi.errors import AuthRejected, BadRequest, KimiError, NotFound

bp = Blueprint("auth", __name__)

_ACCOUNT_ACTIONS = {
    "disable": lambda registry, account_id: (registry.set_disabled(account_id, True), "disabled_msg"),
    "enable": lambda registry, account_id: (registry.set_disabled(account_id, False), "enabled_msg"),
    "delete": lambda registry, account_id: (registry.delete(account_id), "deleted"),
    "check": lambda registry, account_id: (None, "live" if registry.check(account_id)["live"] else "dead"),
}


@bp.get("/auth")
def page():
    if not admin.is_admin():
        return _render("auth/login.html")
    return _render_dashboard()


@bp.post("/auth/login")
def login():
    admin.check_csrf()
    if admin.log_in(request.form.get("password", "")):
        return redirect(url_for("auth.page"), 303)
    return _render("auth/login.html", error=_t("wrong_password")), 401


@bp.post("/auth/logout")
def logout():
    admin.check_csrf()
    admin.log_out()
    return redirect(url_for("auth.page"), 303)


@bp.post("/auth/accounts")
def save_account():
    _require_admin()
    form = request.form
    try:
        _, created = _registry().save(form.get("cookies"), form.get("refresh_token"), form.get("label", ""))
    except BadRequest as err:
        pasted = tokens.extract_token(form.get(err.param or "cookies") or "")
        expiry = when(accounts.describe_token(pasted)["expires_at"]) if pasted else ""
        return _render_dashboard(error=_message(err, expiry)), 400
    flash("saved" if created else "updated")
    return redirect(url_for("auth.page"), 303)


@bp.post("/auth/accounts/<account_id>/<action>")
def account_action(account_id: str, action: str):
    _require_admin()
    if action not in _ACCOUNT_ACTIONS:
        raise NotFound(f"No action {action!r}.")
    _, message = _ACCOUNT_ACTIONS[action](_registry(), account_id)
    flash(message)
    return redirect(url_for("auth.page"), 303)


@bp.post("/auth/keys")
def create_key():
    _require_admin()
    limit = request.form.get("rate_limit", "").strip()
    if limit and (not limit.isdigit() or int(limit) < 1):
        return _render_dashboard(error="Rate limit: a whole number of requests per minute."), 400
    key, _ = keyring().create(request.form.get("label", ""), int(limit) if limit else None)
    return _render_dashboard(new_key=key), 201  # shown this once; only its hash is stored


@bp.post("/auth/keys/<key_id>/revoke")
def revoke_key(key_id: str):
    _require_admin()
    keyring().revoke(key_id)
    flash("key_revoked")
    return redirect(url_for("auth.page"), 303)


@bp.errorhandler(KimiError)
def page_error(err: KimiError):
    template = "auth/index.html" if admin.is_admin() else "auth/login.html"
    context = _dashboard_context() if admin.is_admin() else {}
    return _render(template, error=_message(err), **context), err.status, err.response_headers()


@bp.after_request
def page_headers(response):
    if g.get("chosen_lang"):
        response.set_cookie("lang", g.chosen_lang, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    # An admin page: never framed (clickjacking), never cached, scripts only from this server.
    response.headers.update({"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                             "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"})
    return response


@bp.app_template_filter("when")
def when(value: Any) -> str:
    """An ISO time or Unix seconds as `YYYY-MM-DD HH:MM UTC`."""
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc)
    elif isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _require_admin() -> None:
    admin.check_csrf()
    if not admin.is_admin():
        raise AuthRejected("Log in first.", code="admin_required")


def _registry():
    return current_app.extensions["registry"]


def _lang() -> str:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        g.chosen_lang = chosen
        return chosen
    remembered = request.cookies.get("lang")
    return remembered if remembered in LANGUAGES else LANGUAGES[0]


def _t(key: str) -> str:
    return TEXT[_lang()][key]


def _message(err: KimiError, detail: str = "") -> str:
    """The error in the page's language when the page has words for it, else as raised."""
    text = TEXT[_lang()].get(f"err_{err.code}")
    return err.message if text is None else text.format(detail=detail)


def _dashboard_context(new_key: Optional[str] = None) -> dict[str, Any]:
    settings = current_app.config["SETTINGS"]
    return {"accounts": _registry().views(), "keys": keyring().views(), "new_key": new_key,
            "default_limit": settings["key_rate_limit_per_minute"], "base_url": request.host_url.rstrip("/")}


def _render_dashboard(error: Optional[str] = None, new_key: Optional[str] = None) -> str:
    return _render("auth/index.html", error=error, **_dashboard_context(new_key))


def _render(template: str, **context: Any) -> str:
    lang = _lang()
    messages = [TEXT[lang].get(key, key) for key in get_flashed_messages()]
    return render_template(template, t=TEXT[lang], lang=lang, csrf_token=admin.csrf_token(),
                           messages=messages, **context)
