"""Settings and helpers shared by the accounts-and-access tests (their fixtures are in auth_fixtures.py):
the admin password, gateway environments and app configs aimed at the fake upstreams."""
from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path

import requests

from gateway.store import FileStore
from gateway.store.file import USAGE_DATABASE
from tests.support.fake_kimi_auth import PROBE_PATH, REFRESH_PATH

ADMIN_PASSWORD = "admin-pass-for-tests"


def gateway_env(fake_kimi_server, fake_auth_server, data_dir: Path, **overrides: str) -> dict:
    """The environment of a gateway with an admin password and no server-side token or key."""
    return {**os.environ, "KIMI_BASE_URL": fake_kimi_server.url, "DATA_DIR": str(data_dir),
            "KIMI_AUTH_BASE_URL": fake_auth_server.url, "KIMI_REFRESH_URL": fake_auth_server.url + REFRESH_PATH,
            "KIMI_PROBE_URL": fake_auth_server.url + PROBE_PATH,
            "ADMIN_PASSWORD": ADMIN_PASSWORD, "KIMI_TOKEN": "", "API_KEYS": "", "WEB_CONCURRENCY": "2",
            "UPSTREAM_READ_TIMEOUT": "5", "UPSTREAM_CONNECT_TIMEOUT": "2", "LOG_LEVEL": "INFO", **overrides}


def app_config(fake_kimi_server, fake_auth_server, data_dir: Path, **overrides) -> dict:
    """create_app() settings for Flask test-client tests, matching gateway_env()."""
    return {"kimi_base_url": fake_kimi_server.url, "data_dir": str(data_dir),
            "kimi_auth_base_url": fake_auth_server.url, "kimi_refresh_url": fake_auth_server.url + REFRESH_PATH,
            "kimi_probe_url": fake_auth_server.url + PROBE_PATH, "admin_password": ADMIN_PASSWORD,
            "kimi_token": "", "api_keys": "", "upstream_read_timeout": 5, **overrides}


def wipe_state(data_dir: Path) -> None:
    """Forget accounts, keys, status and counters; the gateway's workers see it on their next read."""
    for path in data_dir.glob("*.json"):
        if path.name != "secrets.json":
            path.unlink()
    store = FileStore(data_dir)
    store.modify("accounts", dict.clear)
    store.close()
    # The request log and usage counts live in their own database, which the workers keep open.
    with contextlib.closing(sqlite3.connect(data_dir / USAGE_DATABASE)) as usage:
        for (table,) in usage.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            usage.execute(f"DELETE FROM {table}")  # count and row, once a flusher made them
        usage.commit()


def create_key(gateway, rate_limit=""):
    """Log in on the page and create a key through its form, as the owner would."""
    with requests.Session() as browser:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(gateway.url + "/auth", timeout=10).text)
        browser.post(gateway.url + "/auth/login", data={"password": ADMIN_PASSWORD, "csrf_token": csrf.group(1)},
                     timeout=10)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(gateway.url + "/auth", timeout=10).text)
        page = browser.post(gateway.url + "/auth/keys", data={"label": "tests", "rate_limit": rate_limit,
                                                              "csrf_token": csrf.group(1)}, timeout=10)
    return re.search(r'<code id="new-key">(sk-[\w-]+)</code>', page.text).group(1)
