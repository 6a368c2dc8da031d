"""The owner's console in a real browser (chromium under Playwright) against the gateway under gunicorn:
real requests first, so the charts and the log have data; filters through the form; copy as cURL to the
clipboard; no serious accessibility findings; screenshots at 1280 and 360 px that fit the width."""
import pytest
import requests
from playwright.sync_api import expect

from tests.support.admin_setup import ADMIN_PASSWORD, create_key
from tests.support.browser import ARTIFACTS, DESKTOP, PHONE, brightness_spread, serious_violations
from tests.support.jwts import make_jwt
from tests.support.waiting import wait_until

pytest_plugins = ["tests.support.auth_fixtures", "tests.support.browser_fixtures"]

CHAT = {"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": "hello from the console test"}]}


@pytest.fixture
def traffic(admin_gateway):
    """An account, a key, one answered request with it and one refused for a wrong key."""
    requests.post(admin_gateway.url + "/auth/save", json={"access_token": make_jwt(sub="consoleuser000000001")},
                  headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=10).raise_for_status()
    key = create_key(admin_gateway)
    answered = requests.post(admin_gateway.url + "/v1/chat/completions", json=CHAT,
                             headers={"Authorization": f"Bearer {key}"}, timeout=10)
    refused = requests.post(admin_gateway.url + "/v1/chat/completions", json=CHAT,
                            headers={"Authorization": "Bearer sk-not-a-key"}, timeout=10)
    assert (answered.status_code, refused.status_code) == (200, 401)
    return admin_gateway


@pytest.fixture
def open_console(new_page, traffic):
    """open_console(path, viewport, csp=True) -> a logged-in page once the request log lists both requests
    (each worker's flusher writes within about a second)."""

    def open_(path, viewport=DESKTOP, csp=True):
        # Without the page's CSP only where axe-core is injected; the clipboard is granted either way.
        page = new_page(viewport, bypass_csp=not csp, clipboard_origin=traffic.url)
        page.goto(traffic.url + "/auth?lang=en")
        page.locator("input[name=password]").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        assert wait_until(lambda: page.goto(traffic.url + "/auth/requests")
                          and page.locator("#requests tbody tr").count() == 2, timeout=15, interval=0.3)
        page.goto(traffic.url + path)
        return page

    return open_


def test_the_request_log_filters_through_its_form_and_copies_a_curl_command(open_console, traffic):
    page = open_console("/auth/requests")
    page.get_by_label("Status").select_option("4xx")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#requests tbody tr")).to_have_count(1)
    expect(page.locator("#requests tbody tr")).to_have_attribute("data-status", "401")
    page.get_by_label("Status").select_option("2xx")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#requests tbody tr")).to_have_attribute("data-status", "200")
    page.locator("#requests").get_by_role("button", name="Copy cURL").click()
    expect(page.locator("#copy-status")).to_contain_text("The cURL command was copied.")
    assert page.evaluate("navigator.clipboard.readText()") == (
        f"curl -sS -N -X POST {traffic.url}/v1/chat/completions \\\n"
        '  -H "Authorization: Bearer $KIMI_GATEWAY_KEY" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        """  --data-raw '{"model":"kimi-k2.5-instant","messages":[{"role":"user","content":"Hello"}]}'""")


def test_the_usage_charts_are_labelled_images_with_their_numbers(open_console):
    page = open_console("/auth/usage")
    for name in ("Requests over time (OK and errors)", "Tokens over time (in and out)", "Requests per API key",
                 "Requests per Kimi account"):
        expect(page.get_by_role("img", name=name)).to_be_visible()
    expect(page.locator("#totals [data-total=requests]")).to_have_text("2")
    expect(page.locator("#chart-keys table")).to_contain_text("tests")  # the key's label, in the hidden table
    expect(page.locator("#chart-requests .tick").first).to_have_text("0")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("path", ["/auth/usage", "/auth/requests", "/auth/audit"])
def test_console_pages_fit_the_width_and_have_no_serious_accessibility_violations(open_console, path, viewport):
    page = open_console(path + "?lang=en", viewport, csp=False)
    ARTIFACTS.mkdir(exist_ok=True)
    png = page.screenshot(path=ARTIFACTS / f"console-{path.rsplit('/', 1)[1]}-{viewport['width']}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert brightness_spread(page, png) > 100
    assert serious_violations(page) == []


def test_the_console_works_under_its_own_content_security_policy(open_console):
    page = open_console("/auth/requests?lang=en")
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.reload()
    page.wait_for_load_state("load")
    assert problems == []
