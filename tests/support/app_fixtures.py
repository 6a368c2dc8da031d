"""The Flask app of the view-level tests (Flask's test client), built one way for all of them; a fixture
plugin registered by tests/conftest.py. `make_app` is the factory; `app` and `client` give the app a test
module picks with `pytestmark = pytest.mark.app(preset, **settings)`, the default settings without one."""
from __future__ import annotations

import pytest

from app import create_app
from tests.support.admin_setup import app_config


def _admin(fixture) -> dict:
    """An admin password, the fake account service (`kimi_auth`, from tests.support.auth_fixtures), no
    server-side token or key."""
    return app_config(fixture("fake_kimi_server"), fixture("kimi_auth"), fixture("tmp_path") / "data")


def _served(fixture) -> dict:
    """The fake upstreams, the server's own token and no key: any caller is served."""
    return {"kimi_base_url": fixture("fake_kimi_server").url, "kimi_legacy_base_url": fixture("fake_legacy_server").url,
            "kimi_token": fixture("server_token"), "api_keys": ""}


PRESETS = {"admin": _admin, "served": _served}


def pytest_configure(config):
    config.addinivalue_line("markers", "app(preset=None, **settings): the create_app() settings of the `app` "
                                       "fixture: a preset of tests/support/app_fixtures.py, then `settings`")


@pytest.fixture
def make_app(request, tmp_path):
    """Build an app: create_app() over a preset's settings, then `settings`, with its state in this test's
    tmp_path/data unless `data_dir` is given. Each call is another worker (or a restart) on that state."""
    def make(preset: str | None = None, **settings):
        chosen = PRESETS[preset](request.getfixturevalue) if preset else {}
        return create_app({"data_dir": str(tmp_path / "data"), **chosen, **settings})
    return make


@pytest.fixture
def app(request, make_app):
    """The app of the test's `app` marker (module-wide as `pytestmark`), or of the default settings."""
    marker = request.node.get_closest_marker("app")
    return make_app(*marker.args, **marker.kwargs) if marker else make_app()


@pytest.fixture
def client(app):
    return app.test_client()
