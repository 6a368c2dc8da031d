"""Liveness endpoints for hosts and uptime checks."""
from __future__ import annotations

from flask import Blueprint, jsonify

from blueprints.upstream import settings
from kimi import __version__, tokens

bp = Blueprint("meta", __name__)


@bp.get("/ping")
def ping():
    return "pong", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/health")
def health():
    """Whether a server-side token is configured, never the token itself."""
    server_tokens = tokens.split_tokens(settings().get("kimi_token") or "")
    return jsonify({"status": "ok", "version": __version__,
                    "server_token_present": bool(server_tokens), "server_token_count": len(server_tokens)})
