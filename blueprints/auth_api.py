"""The JSON API behind /auth, for scripts: extract, save, status and clear (admin rights for all but
extract), and /token/check. Errors take the app-wide JSON shape (blueprints/errors.py)."""
from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, jsonify, request

from blueprints import admin
from blueprints.upstream import json_body, services
from gateway import pasted
from gateway.registry import Registry
from kimi import tokens
from kimi.errors import AuthRejected, BadRequest, RateLimited

bp = Blueprint("auth_api", __name__)

CHECKS_PER_MINUTE = 30  # /token/check makes a call to Kimi for anyone who asks: keep it modest


def registry() -> Registry:
    return services().registry


@bp.post("/auth/extract")
def extract():
    """What pasted credentials are (kind, user, expiry, whether they renew themselves). Takes what
    /auth/save takes. Beside our keys, the original gateway's: `success`, `token_info`, and `token`,
    the token read out of what the caller pasted in this very request (never one the gateway keeps)."""
    cookies, refresh = _pasted(json_body())
    info = pasted.describe_credentials(cookies, refresh)
    credentials = pasted.read_credentials(cookies, refresh)
    token = credentials["access_token"] or credentials["refresh_token"]
    return jsonify({**info, "success": True, "token": token, "token_info": info})


@bp.post("/auth/save")
def save():
    """Save an account from `access_token` and/or `refresh_token`, or from `cookies` (the console snippet's
    JSON, a token, a kimi-auth cookie or Cookie header); 201 when it is new, 200 when it updated one."""
    admin.require_admin(state_changing=True)
    body = json_body()
    view, created = registry().save(*_pasted(body), _text(body, "label"), source="api")
    admin.audit("account_saved" if created else "account_updated", view["id"], view["label"])
    message = "Account saved." if created else "Account updated."
    return jsonify({"saved": True, "created": created, "account": view,
                    "success": True, "message": message, "token_info": view}), 201 if created else 200


@bp.get("/auth/status")
def status():
    admin.require_admin(state_changing=False)
    views = registry().views()
    quotas = services().quotas.readouts(wait=services().settings["quota_page_wait"])
    # The original gateway's keys describe one token: here the first active account (else the first).
    first = next((view for view in views if view["state"] == "active"), views[0] if views else None)
    return jsonify({"accounts": [{**view, "quota": quotas.get(view["id"])} for view in views],
                    "keys": services().keyring.views(), "admin_password": admin.password_source(),
                    "has_token": first is not None, "token_info": first,
                    "token_preview": first["token_prefix"] if first else None})


@bp.post("/auth/clear")
def clear():
    """Delete every account saved through the page or this API (KIMI_TOKEN accounts stay)."""
    admin.require_admin(state_changing=True)
    cleared = registry().clear()
    admin.audit("accounts_cleared", detail=str(cleared))
    return jsonify({"cleared": cleared})


@bp.get("/auth/clear")
def clear_by_get():
    # A link must never wipe the accounts: clearing is POST only, and says so.
    return jsonify({"error": {"message": "Clearing accounts changes state: send POST /auth/clear with admin "
                                         "rights (Authorization: Bearer <admin password>).",
                              "type": "invalid_request_error", "param": None, "code": "method_not_allowed"}}), \
        405, {"Allow": "POST"}


@bp.post("/token/check")
def check_token():
    """{live: bool}: an access JWT is checked for expiry, then with Kimi; a refresh token is live when the
    refresh call returns a new pair (B.1; note that Kimi then rotates it)."""
    _throttle_checks()
    token = tokens.extract_token(_text(json_body(), "token"))
    if not token:
        raise BadRequest("Send `token`: a kimi-auth access token or a refresh token.", param="token")
    claims = tokens.read_claims(token)
    if claims and tokens.is_expired(claims, leeway=0):
        return jsonify({"live": False})
    calls = services().pool.calls
    try:
        if tokens.is_access_jwt(claims):
            return jsonify({"live": calls.probe(token)})
        access, refresh = calls.refresh(token)
        return jsonify({"live": bool(access and refresh)})
    except AuthRejected:
        return jsonify({"live": False})


def _throttle_checks() -> None:
    count, left = admin.store().hit("token-check:" + (request.remote_addr or "?"), 60)
    if count > CHECKS_PER_MINUTE:
        raise RateLimited("Too many token checks; try again in a minute.", retry_after=max(1, math.ceil(left)),
                          code="too_many_checks")


def _pasted(body: Any) -> tuple[str, str]:
    """(first field, refresh token): `access_token` and the original gateway's `token` are other names
    for the first field."""
    first = _text(body, "cookies") or _text(body, "access_token") or _text(body, "token")
    return first, _text(body, "refresh_token")


def _text(body: Any, field: str) -> str:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"`{field}` must be a string.", param=field)
    return value or ""

