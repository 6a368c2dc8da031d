"""Requests that came through a proxy: telling them apart, and believing only trusted proxies.

Behind a reverse proxy on the same host (nginx, Caddy, ngrok, cloudflared) every caller's socket
address is the proxy's. A proxy named in FORWARDED_ALLOW_IPS (gunicorn reads the same variable for
the scheme) is believed about the client's address and scheme, so throttles see the real client;
any other request's forwarding headers are ignored for the address but still mark it as proxied.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from werkzeug.middleware.proxy_fix import ProxyFix

_FORWARDING_HEADERS = ("HTTP_FORWARDED", "HTTP_X_REAL_IP")
_FORWARDED_PREFIX = "HTTP_X_FORWARDED_"

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def came_through_proxy(environ: Mapping[str, Any]) -> bool:
    """Whether the request carries any forwarding header (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`)."""
    return any(name in environ for name in _FORWARDING_HEADERS) or \
        any(name.startswith(_FORWARDED_PREFIX) for name in environ)


class TrustedProxies:
    """WSGI middleware: the client address and scheme from X-Forwarded-For/-Proto (one hop), for requests
    whose socket peer is a trusted proxy; every other request as it came."""

    def __init__(self, app: WsgiApp, allow_ips: str):
        self._app = app
        self._fixed = ProxyFix(app, x_for=1, x_proto=1)
        allowed = {address.strip() for address in allow_ips.split(",") if address.strip()}
        self._trusts_any = "*" in allowed
        self._allowed = allowed

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self._trusts_any or environ.get("REMOTE_ADDR") in self._allowed:
            return self._fixed(environ, start_response)
        return self._app(environ, start_response)
