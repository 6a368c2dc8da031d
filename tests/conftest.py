"""Registers the suite's fixture plugins from tests/support/ for every test module, the log hygiene check
among them (it runs when the session ends)."""

pytest_plugins = ["tests.support.suite_fixtures", "tests.support.app_fixtures", "tests.support.log_hygiene"]
