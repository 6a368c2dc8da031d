"""The WSGI application: create_app() wires settings, the Kimi client and the blueprints.

gunicorn serves `app` (see Procfile and configs/gunicorn.conf.py); tests call create_app(config).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from flask import Flask
from flask_cors import CORS

from blueprints import (admin, anthropic, auth, auth_api, docs, errors, gemini, meta, observability, openai,
                        responses)
from blueprints import upstream
from blueprints.logs import configure_logging
from configs.settings import load_models, load_settings
from kimi.connect.client import KimiClient
from kimi.legacy.auth import RotationHook
from kimi.legacy.client import LegacyClient
from kimi.models import ModelTable
from kimi.router import UpstreamRouter
from kimi.transport import Endpoints


def create_app(config: Optional[Mapping[str, Any]] = None) -> Flask:
    settings = load_settings(config)
    configure_logging(settings["log_level"], settings["log_format"])
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = int(settings["max_body_mb"] * 1024 * 1024)
    app.json.sort_keys = False
    # Browser clients (chat websites) call the API cross-origin; credentials travel as headers.
    CORS(app, expose_headers=["X-Conversation-Id", "X-Kimi-Continuation", "X-Kimi-Scenario", "X-Request-Id",
                              "Retry-After"])
    observability.install(app)
    admin.install(app, settings)  # store, account pool, proxy keys, admin secrets
    # Built after the pool, which stores the refresh tokens Kimi rotates when a saved legacy account's is used.
    keep_rotated = app.extensions["account_pool"].keep_rotated_refresh_token
    app.extensions["kimi_client"] = _upstream(settings, ModelTable(load_models()), on_rotated=keep_rotated)
    upstream.install(app, settings)  # native continuation, chat hygiene, overload fallback (needs the store)
    for blueprint in (meta.bp, openai.bp, responses.bp, anthropic.bp, gemini.bp, auth.bp, auth_api.bp, docs.bp):
        app.register_blueprint(blueprint)
    errors.register(app)
    return app


def _upstream(settings: dict, models: ModelTable, on_rotated: RotationHook) -> UpstreamRouter:
    timeouts = {"connect_timeout": settings["upstream_connect_timeout"],
                "read_timeout": settings["upstream_read_timeout"]}
    endpoints = Endpoints.from_settings(settings)
    connect = KimiClient(endpoints=endpoints, models=models,
                         max_frame_bytes=int(settings["max_frame_mb"] * 1024 * 1024),
                         max_upload_bytes=int(settings["max_upload_mb"] * 1024 * 1024),
                         allow_private_urls=settings["allow_private_urls"],
                         parse_timeout=settings["upload_parse_timeout"], **timeouts)
    legacy = LegacyClient(endpoints=endpoints, models=models,
                          max_upload_bytes=int(settings["max_upload_mb"] * 1024 * 1024),
                          allow_private_urls=settings["allow_private_urls"],
                          parse_timeout=settings["upload_parse_timeout"], on_rotated=on_rotated, **timeouts)
    return UpstreamRouter(connect, legacy)


app = create_app()
