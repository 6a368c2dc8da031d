"""Admin rights for /auth: the admin password (ADMIN_PASSWORD, or generated once and kept in the
store), the session login, CSRF tokens and the throttle on failed logins. install() also builds the
store, the account pool and the key ring that the API blueprints lend accounts through.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import string
from datetime import timedelta
from typing import Optional

from flask import Flask, current_app, request, session

from gateway.access import Keyring, bearer
from kimi.errors import AuthRejected, PermissionDenied, RateLimited
from gateway.pool import AccountPool
from kimi.refresh import AccountCalls
from kimi.transport import Endpoints
from gateway.registry import Registry
from gateway.store import Store, open_store

log = logging.getLogger(__name__)

LOGIN_WINDOW = 15 * 60
# Letters and digits only: nothing the log redaction could mistake for a token and hide.
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


class CsrfRejected(PermissionDenied):
    default_message = "The form has expired or did not come from this site; reload the page and try again."


def install(app: Flask, settings: dict) -> None:
    """Open the store and put the pool, registry, key ring and admin secrets on the app."""
    store = open_store(settings["data_dir"], settings["redis_url"])
    calls = AccountCalls(endpoints=Endpoints.from_settings(settings),
                         connect_timeout=settings["upstream_connect_timeout"])
    pool = AccountPool(store, calls, max_streams=settings["account_max_streams"],
                       cooldown_seconds=settings["account_cooldown_seconds"])
    registry = Registry(pool)
    registry.sync_env(settings["kimi_token"])
    app.extensions.update(store=store, account_pool=pool, registry=registry,
                          keyring=Keyring(store, settings["api_keys"], settings["key_rate_limit_per_minute"]))
    app.secret_key = settings["secret_key"] or store.ensure_secret("secret_key", lambda: secrets.token_hex(32))[0]
    app.extensions["admin_password"] = _admin_password(store, settings)
    app.config.update(SESSION_COOKIE_NAME="kimi_admin", SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_HTTPONLY=True, PERMANENT_SESSION_LIFETIME=timedelta(days=7))


def _admin_password(store: Store, settings: dict) -> str:
    if settings["admin_password"]:
        return settings["admin_password"]
    password, created = store.ensure_secret(
        "admin_password", lambda: "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(20)))
    if created:  # one worker wins the creation, so this is printed once per deployment
        log.warning("ADMIN_PASSWORD is not set, so an admin password was generated and stored: %s  "
                    "Open http://localhost:%s/auth (or this server's public URL + /auth) and log in with it. "
                    "Set ADMIN_PASSWORD to choose your own.", password, settings["port"])
    return password


def store() -> Store:
    return current_app.extensions["store"]


def is_admin() -> bool:
    return secrets.compare_digest(session.get("admin", ""), _fingerprint())


def log_in(password: str) -> bool:
    """Check the password (throttled per client address) and open an admin session when it is right."""
    if not check_password(password):
        return False
    session.clear()
    session.permanent = True
    session["admin"] = _fingerprint()
    return True


def log_out() -> None:
    session.clear()


def check_password(given: str) -> bool:
    """Whether `given` is the admin password; RateLimited after too many failures from one address."""
    name = "login-failures:" + (request.remote_addr or "?")
    failures, left = store().peek(name, LOGIN_WINDOW)
    limit = current_app.config["SETTINGS"]["admin_login_max_failures"]
    if failures >= limit:
        raise RateLimited("Too many wrong admin passwords; wait before trying again.",
                          retry_after=max(1, math.ceil(left)), code="too_many_logins")
    if hmac.compare_digest(given.encode(), current_app.extensions["admin_password"].encode()):
        return True
    store().hit(name, LOGIN_WINDOW)
    log.warning("wrong admin password from %s", request.remote_addr)
    return False


def require_admin(state_changing: bool) -> None:
    """Admin rights for the JSON API: `Authorization: Bearer <admin password>`, or the page's session
    (which must then carry the CSRF token in X-CSRF-Token for anything that changes state)."""
    given = bearer(request.headers.get("Authorization"))
    if given is not None:
        if not check_password(given):
            raise AuthRejected("Wrong admin password.", code="invalid_admin_password")
        return
    if not is_admin():
        raise AuthRejected("Admin rights needed: log in on /auth, or send `Authorization: Bearer "
                           "<admin password>`.", code="admin_required")
    if state_changing:
        check_csrf()


def csrf_token() -> str:
    """The session's CSRF token, made on first use; every form carries it in `csrf_token`."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not secrets.compare_digest(given, expected):
        raise CsrfRejected(code="csrf_failed")


def password_source() -> str:
    return "env" if current_app.config["SETTINGS"]["admin_password"] else "generated"


def _fingerprint() -> str:
    # A changed admin password ends every session opened with the old one.
    key = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) else current_app.secret_key
    password: Optional[str] = current_app.extensions["admin_password"]
    return hmac.new(key, password.encode(), hashlib.sha256).hexdigest()[:32]
