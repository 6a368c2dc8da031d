"""The WSGI application: create_app() loads settings, has gateway/services.py build the gateway once,
and registers the blueprints.

gunicorn serves `app` (see Procfile and configs/gunicorn.conf.py); tests call create_app(config).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from flask import Flask
from flask_cors import CORS

from blueprints import (
    admin,
    anthropic,
    auth,
    auth_api,
    console,
    docs,
    errors,
    gemini,
    meta,
    observability,
    openai,
    responses,
    upstream,
)
from blueprints.logs import configure_logging
from blueprints.proxy import TrustedProxies
from configs.settings import load_settings
from gateway.services import build_services


def create_app(config: Optional[Mapping[str, Any]] = None) -> Flask:
    settings = load_settings(config)
    configure_logging(settings["log_level"], settings["log_format"])
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(settings["max_body_mb"] * 1024 * 1024)
    app.json.sort_keys = False
    # Browser clients (chat websites) call the API cross-origin; credentials travel as headers.
    CORS(app, expose_headers=["X-Conversation-Id", "X-Kimi-Continuation", "X-Kimi-Scenario", "X-Request-Id",
                              "Retry-After", "Server-Timing"])
    app.wsgi_app = TrustedProxies(app.wsgi_app, settings["forwarded_allow_ips"])
    observability.install(app, settings["client_write_timeout"])
    services = build_services(settings)
    upstream.install(app, services)
    admin.install(app, services)
    for blueprint in (meta.bp, openai.bp, responses.bp, anthropic.bp, gemini.bp, auth.bp, auth_api.bp, console.bp,
                      docs.bp):
        app.register_blueprint(blueprint)
    errors.register(app)
    return app


app = create_app()
