"""Liveness endpoints for hosts and uptime checks."""
from __future__ import annotations

from flask import Blueprint, jsonify

from blueprints.upstream import services
from kimi import __version__, tokens

bp = Blueprint("meta", __name__)


@bp.get("/ping")
def ping():
    return "pong", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/health")
def health():
    """Whether server-side tokens are configured and, per saved account, its state, when its access
    token expires and whether it can renew itself; never a token, a user id or a label."""
    server_tokens = tokens.split_tokens(services().settings.get("kimi_token") or "")
    accounts = [{field: view[field] for field in _HEALTH_FIELDS}
                for view in services().registry.views()]
    return jsonify({"status": "ok", "version": __version__,
                    "server_token_present": bool(server_tokens), "server_token_count": len(server_tokens),
                    "accounts": accounts})


# `reason`: Kimi's words when it refused the account (a "reimport" state says how to bring it back).
_HEALTH_FIELDS = ("id", "state", "reason", "expires_at", "expires_in", "expires_soon", "can_renew", "renewable_until")
