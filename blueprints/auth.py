"""The /auth page: admin login, saving Kimi accounts, their states and actions, and proxy API keys.

Plain HTML forms, each carrying a CSRF token, on the site's shared layout (templates/base.html);
static/auth/auth.js adds the token preview (through POST /auth/extract) and live expiry countdowns.
Language and texts are the other pages' (blueprints/i18n.py, configs/strings.yaml, keys auth_*): the
template context and the remembered-language cookie come from blueprints/docs.py's app-wide hooks.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from flask import Blueprint, flash, get_flashed_messages, redirect, render_template, request, url_for

from blueprints import admin, i18n
from blueprints.upstream import services
from gateway import pasted, policies
from kimi import tokens
from kimi.errors import AuthRejected, BadRequest, KimiError, NotFound

bp = Blueprint("auth", __name__)

# Pasted into the Console of a logged-in www.kimi.com tab, it prints the two localStorage tokens as the
# JSON the form takes (D.1). A value stored JSON-quoted is unquoted; a missing one prints as "".
CONSOLE_SNIPPET = ('console.log(JSON.stringify(Object.fromEntries(["access_token", "refresh_token"].map(k => '
                   '{ let v = localStorage.getItem(k) || ""; try { v = JSON.parse(v) } catch {} '
                   'return [k, String(v)] }))))')

_ACCOUNT_ACTIONS = {
    "disable": lambda registry, account_id: (registry.set_disabled(account_id, True), "auth_disabled_msg"),
    "enable": lambda registry, account_id: (registry.set_disabled(account_id, False), "auth_enabled_msg"),
    "delete": lambda registry, account_id: (registry.delete(account_id), "auth_deleted"),
    "check": lambda registry, account_id: (None, "auth_live" if registry.check(account_id)["live"] else "auth_dead"),
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
    return _render("auth/login.html", error=_t("auth_wrong_password")), 401


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
        view, created = _registry().save(form.get("cookies"), form.get("refresh_token"), form.get("label", ""))
    except BadRequest as err:
        token = tokens.extract_token(form.get(err.param or "cookies") or "")
        expiry = when(pasted.describe_token(token)["expires_at"]) if token else ""
        return _render_dashboard(error=_message(err, expiry)), 400
    admin.audit("account_saved" if created else "account_updated", view["id"], view["label"])
    flash("auth_saved" if created else "auth_updated")
    return redirect(url_for("auth.page"), 303)


@bp.post("/auth/accounts/<account_id>/<action>")
def account_action(account_id: str, action: str):
    _require_admin()
    if action not in _ACCOUNT_ACTIONS:
        raise NotFound(f"No action {action!r}.")
    _, message = _ACCOUNT_ACTIONS[action](_registry(), account_id)
    admin.audit("account_" + action, account_id)
    flash(message)
    return redirect(url_for("auth.page"), 303)


@bp.post("/auth/accounts/<account_id>/policy")
def account_policy(account_id: str):
    _require_admin()
    try:
        interval = policies.read_seconds(request.form.get("min_interval"), "min_interval")
        cap = policies.read_count(request.form.get("daily_cap"), "daily_cap")
    except BadRequest as err:
        return _render_dashboard(error=_t(_BAD_POLICY_TEXTS[err.param])), 400
    _registry().set_policy(account_id, interval, cap)
    admin.audit("account_policy", account_id, _described({"min_interval": interval, "daily_cap": cap}))
    flash("policy_account_saved")
    return redirect(url_for("auth.page"), 303)


@bp.post("/auth/keys")
def create_key():
    _require_admin()
    try:
        limits = _key_limits()
    except BadRequest as err:
        return _render_dashboard(error=_t(_BAD_POLICY_TEXTS[err.param])), 400
    key, record = services().keyring.create(request.form.get("label", ""), **limits)
    admin.audit("key_created", record["id"], record["label"])
    return _render_dashboard(new_key=key), 201  # shown this once; only its hash is stored


@bp.post("/auth/keys/<key_id>/policy")
def key_policy(key_id: str):
    _require_admin()
    try:
        limits = _key_limits()
    except BadRequest as err:
        return _render_dashboard(error=_t(_BAD_POLICY_TEXTS[err.param])), 400
    services().keyring.set_policy(key_id, request.form.get("label", ""), **limits)
    admin.audit("key_policy", key_id, _described({**limits, "expires_at": policies.expiry_date(limits["expires_at"])}))
    flash("policy_key_saved")
    return redirect(url_for("auth.page"), 303)


def _described(values: dict) -> str:
    """A policy change as the audit log shows it: each setting's new value (none: unset)."""
    return ", ".join(f"{name}={','.join(value) if isinstance(value, (list, tuple)) else value or 'none'}"
                     for name, value in values.items())


# The page's words for a policy form's bad field (BadRequest.param).
_BAD_POLICY_TEXTS = {"rate_limit": "auth_bad_rate_limit", "max_streams": "auth_bad_max_streams",
                     "daily_cap": "policy_bad_daily_cap", "expires": "policy_bad_expires",
                     "min_interval": "policy_bad_min_interval"}


def _key_limits() -> dict[str, Any]:
    """The limits a key form sets (None: the default); BadRequest naming the field that is not valid."""
    form = request.form
    limits = {"rate_limit": _positive("rate_limit"), "max_streams": _positive("max_streams")}
    for field, value in limits.items():
        if value is False:
            raise BadRequest(f"{field} is not a whole number of at least 1.", param=field)
    return {**limits, "daily_cap": policies.read_count(form.get("daily_cap"), "daily_cap"),
            "allowed_models": policies.read_models(form.get("allowed_models")),
            "expires_at": policies.read_expiry(form.get("expires"))}


def _positive(field: str):
    """The form field as a whole number of at least 1, None when empty, False when it is anything else."""
    value = request.form.get(field, "").strip()
    if not value:
        return None
    return int(value) if value.isdigit() and int(value) >= 1 else False


@bp.post("/auth/keys/<key_id>/revoke")
def revoke_key(key_id: str):
    _require_admin()
    services().keyring.revoke(key_id)
    admin.audit("key_revoked", key_id)
    flash("auth_key_revoked")
    return redirect(url_for("auth.page"), 303)


@bp.errorhandler(KimiError)
def page_error(err: KimiError):
    template = "auth/index.html" if admin.is_admin() else "auth/login.html"
    context = _dashboard_context() if admin.is_admin() else {}
    return _render(template, error=_message(err), **context), err.status, err.response_headers()


@bp.after_request
def page_headers(response):
    # An admin page: never framed (clickjacking), never cached, scripts only from this server. Images
    # may also be data: URLs, for the shared layout's empty favicon (else each load logs a CSP refusal).
    response.headers.update({"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                             "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                                        "frame-ancestors 'none'"})
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


@bp.app_template_filter("percent")
def percent(ratio: Any, lang: str = "en") -> str:
    """A 0..1 ratio as a percentage with at most one decimal, in the page's decimal sign: 3.2% / 3,2%."""
    if not isinstance(ratio, (int, float)):
        return ""
    text = f"{ratio * 100:.1f}".rstrip("0").rstrip(".")
    return (text.replace(".", ",") if lang == "id" else text) + "%"


def _require_admin() -> None:
    admin.check_csrf()
    if not admin.is_admin():
        raise AuthRejected("Log in first.", code="admin_required")


def _registry():
    return services().registry


def _texts() -> dict[str, str]:
    """The page texts in the language this request is answered in (the templates get the same table)."""
    return i18n.strings(i18n.choose_language(request.args, request.cookies))


def _t(key: str) -> str:
    return _texts()[key]


def _message(err: KimiError, detail: str = "") -> str:
    """The error in the page's language when the page has words for it, else as raised."""
    text = _texts().get(f"auth_err_{err.code}")
    return err.message if text is None else text.format(detail=detail)


def _dashboard_context(new_key: Optional[str] = None) -> dict[str, Any]:
    settings = services().settings
    return {"accounts": _registry().views(), "keys": services().keyring.views(), "new_key": new_key,
            "lends_keyless": services().keyring.lends_keyless(),
            "quotas": services().quotas.readouts(wait=settings["quota_page_wait"]),
            "console_snippet": CONSOLE_SNIPPET,
            "default_limit": settings["key_rate_limit_per_minute"],
            "default_streams": settings["key_max_streams"], "base_url": request.host_url.rstrip("/"),
            "account_defaults": {"min_interval": settings["account_min_interval"],
                                 "daily_cap": settings["account_daily_cap"]}}


def _render_dashboard(error: Optional[str] = None, new_key: Optional[str] = None) -> str:
    return _render("auth/index.html", error=error, **_dashboard_context(new_key))


def _render(template: str, **context: Any) -> str:
    # `t` and `lang` are added by docs.page_language for every template; only the flashed message
    # keys are translated here.
    texts = _texts()
    messages = [texts.get(key, key) for key in get_flashed_messages()]
    return render_template(template, csrf_token=admin.csrf_token(), messages=messages, **context)
