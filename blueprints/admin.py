"""Admin rights for /auth: the admin password (ADMIN_PASSWORD, or generated once and kept in the
store by gateway/services.py), the session login and its end, CSRF tokens, and the throttle on failed
logins (gateway/login_throttle.py).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import timedelta
from typing import Optional

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface

from blueprints.upstream import services
from gateway.access import bearer
from gateway.services import Services
from gateway.store import Store
from kimi.errors import AuthRejected, PermissionDenied

log = logging.getLogger(__name__)

SEEN_EVERY = 60  # seconds between refreshes of a session's last-seen time (each one re-sends the cookie)


class CsrfRejected(PermissionDenied):
    default_message = "The form has expired or did not come from this site; reload the page and try again."


class _SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, marked `Secure` whenever the request came over HTTPS (directly, or through
    a proxy trusted by FORWARDED_ALLOW_IPS that said so in X-Forwarded-Proto), so a browser never sends
    it back over plain HTTP; a gateway reached over plain HTTP keeps a cookie it can use."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure

    def open_session(self, app: Flask, request):  # noqa: ANN001 - Flask's signature
        # API callers never send the admin cookie: an empty session without building the signer each time,
        # nor parsing a Cookie header the request does not have.
        if "HTTP_COOKIE" not in request.environ or self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def install(app: Flask, services: Services) -> None:
    """The admin session cookie: signed with the gateway's secret key, kept a week at most."""
    app.secret_key = services.secret_key
    app.session_interface = _SessionCookies()
    app.config.update(SESSION_COOKIE_NAME="kimi_admin", SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_HTTPONLY=True, PERMANENT_SESSION_LIFETIME=timedelta(days=7))


def store() -> Store:
    return services().store


def is_admin() -> bool:
    """Whether this request carries a live admin session: signed for the current password, opened after
    the last logout, and used within the idle time (using it keeps it alive)."""
    if not secrets.compare_digest(session.get("admin", ""), _fingerprint()):
        return False
    now = int(time.time())
    if session.get("epoch") != _session_epoch() or now - session.get("seen", 0) > _idle_seconds():
        session.clear()
        return False
    if now - session["seen"] >= SEEN_EVERY:
        session["seen"] = now
    return True


def log_in(password: str) -> bool:
    """Check the password (throttled per client address) and open an admin session when it is right."""
    if not check_password(password):
        return False
    session.clear()
    session.permanent = True
    session.update(admin=_fingerprint(), epoch=_session_epoch(), seen=int(time.time()))
    audit("login")
    return True


def log_out() -> None:
    """End every admin session, this one and any other browser's (a copied cookie too)."""
    store().modify("secrets", lambda stored: stored.update(session_epoch=secrets.token_hex(8)))
    session.clear()
    audit("logout")


def check_password(given: str) -> bool:
    """Whether `given` is the admin password, checked once this client's turn comes (gateway/login_throttle.py:
    guessers wait longer and longer, the right password always passes); RateLimited only when too many
    checks are queued already."""
    client = request.remote_addr or "?"
    time.sleep(services().logins.reserve(client))  # a gevent worker serves others meanwhile
    if hmac.compare_digest(given.encode(), services().admin_password.encode()):
        return True
    services().logins.record_failure(client)
    audit("login_failed", detail=request.path)  # the address and where, never the password typed
    log.warning("wrong admin password from %s", client)
    return False


def audit(action: str, target: str = "", detail: str = "") -> None:
    """Note an admin action in the audit log (gateway/audit.py), with the client's address."""
    services().audit.note(action, target, detail, client=request.remote_addr or "")


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
    return "env" if services().settings["admin_password"] else "generated"


def _session_epoch() -> str:
    # Sessions carry the epoch they were opened in; a logout starts a new one.
    epoch = store().read("secrets").get("session_epoch")
    return epoch or store().ensure_secret("session_epoch", lambda: secrets.token_hex(8))[0]


def _idle_seconds() -> float:
    return services().settings["admin_session_idle_minutes"] * 60


def _fingerprint() -> str:
    # A changed admin password ends every session opened with the old one.
    key = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) else current_app.secret_key
    password: Optional[str] = services().admin_password
    return hmac.new(key, password.encode(), hashlib.sha256).hexdigest()[:32]
