"""The browser of the pages' tests, loaded with `pytest_plugins = ["tests.support.browser_fixtures"]`: Debian's
chromium driven headless by Playwright, one per test module, and fresh pages in contexts of their own."""
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


@pytest.fixture
def new_page(browser):
    """new_page(viewport, bypass_csp=True, clipboard_origin=None) -> a page in a fresh context (empty storage),
    closed after the test; `clipboard_origin` is granted the clipboard."""
    contexts = []

    def new(viewport, bypass_csp=True, clipboard_origin=None):
        context = browser.new_context(viewport=viewport, bypass_csp=bypass_csp)
        if clipboard_origin:
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=clipboard_origin)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield new
    for context in contexts:
        context.close()
