"""Registers the suite's fixture plugins from tests/support/ for every test module."""

pytest_plugins = ["tests.support.suite_fixtures", "tests.support.app_fixtures"]
