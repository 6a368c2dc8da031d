"""The browser of the pages' tests, loaded with `pytest_plugins = ["tests.support.browser_fixtures"]`: Debian's
chromium driven headless by Playwright, one per test module."""
from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from tests.support.browser import CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()
