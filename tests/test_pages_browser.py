"""The web pages in a real browser: Debian's chromium driven headless by Playwright against the gateway
under gunicorn and the fake upstream. The browser is on 127.0.0.1, so with no key typed in, the
loopback rule serves it with the server's token, as it serves a user on the server's own machine."""
import json
import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.support.admin_setup import ADMIN_PASSWORD
from tests.support.browser import ARTIFACTS, DESKTOP, PHONE, brightness_spread, serious_violations

# The fake account service and a gateway with an admin password; chromium and the checks on its pages.
pytest_plugins = ["tests.support.auth_fixtures", "tests.support.browser_fixtures"]


@pytest.fixture
def open_page(new_page, gateway):
    """open_page(path, viewport=DESKTOP) -> a page of the gateway, in a fresh context (empty storage)."""

    def open_(path, viewport=DESKTOP):
        page = new_page(viewport)  # CSP bypassed: the /auth page's would refuse the injected axe-core
        page.goto(gateway.url + path)
        return page

    return open_


def open_operation(page, operation_id):
    operation = page.locator(f"#op-{operation_id}")
    operation.locator(":scope > summary").click()
    return operation


def test_docs_page_shows_a_stream_live_as_it_arrives(open_page, kimi):
    kimi.long_answer(n_frames=40, delay=0.05)
    operation = open_operation(open_page("/?lang=en"), "chat_completions")
    operation.get_by_role("button", name="Execute").click()
    # Words show up while the answer is still streaming (Stop is offered only until the end).
    expect(operation.locator("[data-role=text]")).to_contain_text("word3")
    expect(operation.get_by_role("button", name="Stop")).to_be_visible()
    expect(operation.locator("[data-role=status]")).to_contain_text("200 OK · done in")
    expect(operation.locator("[data-role=text]")).to_have_text("".join(f"word{i} " for i in range(40)))
    expect(operation.locator("[data-role=response-body]")).to_contain_text("data: [DONE]")
    expect(operation.locator("[data-role=headers]")).to_contain_text("content-type: text/event-stream")


def test_docs_page_executes_a_gemini_json_array_stream(open_page, kimi):
    operation = open_operation(open_page("/?lang=en"), "stream_generate_content")
    operation.locator("input[data-name=alt]").fill("")  # without alt=sse: Google's streamed JSON array
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator("[data-role=status]")).to_contain_text("200 OK · done in")
    expect(operation.locator("[data-role=text]")).to_have_text("Halo, Gemini!")


def test_copy_as_curl_is_a_command_that_works(open_page, kimi):
    operation = open_operation(open_page("/"), "chat_completions")
    operation.get_by_role("button", name="Salin sebagai cURL").click()
    command = operation.locator("[data-role=snippet]").text_content()
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("data: [DONE]\n\n")
    assert '"content":"Halo! Apa kabar?"' in done.stdout


@pytest.mark.parametrize("operation_id,printed", [
    ("chat_completions", "Halo! Apa kabar?\n"),  # openai, streaming
    # openai Responses API; the fake echoes the folded prompt, instructions first
    ("create_response", "[System instructions]\nJawab singkat.\n\n"
                        "[Newest message from the user — answer this one]\nApa ibu kota Indonesia?\n"),
    ("messages", "Halo, Claude!\n"),  # anthropic, messages.stream with thinking
    ("stream_generate_content", "Halo, Gemini!\n"),  # google-genai, thoughts included but not printed
    ("gemini_count_tokens", "4\n"),
])
def test_copy_as_python_runs_with_the_official_sdk(open_page, kimi, operation_id, printed):
    operation = open_operation(open_page("/?lang=en"), operation_id)
    operation.get_by_role("button", name="Copy as Python").click()
    code = operation.locator("[data-role=snippet]").text_content()
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == printed


def ask(page, text):
    page.locator("#prompt").fill(text)
    page.get_by_role("button", name="Send").click()


def test_chat_continues_the_same_conversation_and_keeps_it_in_local_storage(open_page, kimi):
    page = open_page("/chat?lang=en")
    page.locator("#model").select_option("kimi-k2.5-thinking")
    ask(page, "first question")
    answers = page.locator(".message-assistant .content")
    expect(answers.nth(0)).to_have_text("first question")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    ask(page, "second question")
    expect(answers.nth(1)).to_have_text("second question")
    expect(page.locator(".message-assistant .thinking-text").nth(1)).to_have_text("Thinking about: second question")
    [turns] = kimi.chats.values()  # one Kimi chat, continued
    assert [turn["user_text"] for turn in turns] == ["first question", "second question"]
    assert turns[1]["parent_id"] == turns[0]["assistant_id"]
    stored = page.evaluate("JSON.parse(localStorage.getItem('kimi-gateway.conversations'))")
    assert [(c["title"], len(c["messages"])) for c in stored] == [("first question", 4)]
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", stored[0]["conversationId"])  # the last reply's own id


def test_chat_renders_markdown_with_highlighted_code_and_never_html_from_the_model(open_page, kimi):
    page = open_page("/chat?lang=en")
    ask(page, "**bold** <img src=x onerror=alert(1)>\n\n```python\ndef f():\n    return 'x'\n```")
    answer = page.locator(".message-assistant .content")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("pre.code .tok-keyword").first).to_have_text("def")
    expect(answer).to_contain_text("<img src=x onerror=alert(1)>")
    assert answer.locator("img").count() == 0


def test_stop_aborts_the_answer_and_the_server_closes_the_upstream(open_page, kimi):
    kimi.long_answer(n_frames=1000, delay=0.02)
    page = open_page("/chat?lang=en")
    ask(page, "tell me a long story")
    expect(page.locator(".message-assistant .content")).to_contain_text("word5")
    assert kimi.open_streams == 1
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".message-assistant .note")).to_have_text("(stopped)")
    assert kimi.wait_for(lambda: kimi.open_streams == 0)
    assert "word999" not in page.locator(".message-assistant .content").text_content()


def test_language_switch_is_remembered_across_pages(open_page):
    page = open_page("/")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dokumentasi API")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API documentation")
    page.get_by_role("link", name="Self-test").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Run all checks")).to_be_visible()


def test_doctor_passes_every_check_through_the_gateway(open_page, kimi):
    page = open_page("/doctor?lang=en")
    page.get_by_role("button", name="Run all checks").click()
    expect(page.locator("#doctor-summary")).to_have_text("7 of 7 passed.", timeout=30_000)
    expect(page.locator("#checks .pass")).to_have_count(7)


def test_doctor_shows_which_check_failed_and_the_bytes_it_got(open_page, kimi):
    kimi.http_error(500)  # the first check's chat request: the gateway answers 502
    page = open_page("/doctor?lang=en")
    page.get_by_role("button", name="Run all checks").click()
    expect(page.locator("#doctor-summary")).to_have_text("6 of 7 passed.", timeout=30_000)
    failed = page.locator("#checks tr").nth(0)
    expect(failed.locator(".fail")).to_have_text("FAIL")
    expect(failed).to_contain_text("First wrong byte at offset 0: HTTP status 502")
    expect(failed.locator("pre")).to_contain_text('"error"')


@pytest.mark.parametrize("check,raw,bad", [
    ("openaiStream", 'data: {"object":"chat.completion.chunk","id":"a","choices":[]}\n\ndata: {oops}\n\n', "oops}"),
    ("openaiStream", 'data: {"object":"chat.completion.chunk","id":"a","choices":[]}\n\ndata: [DONE]', "data: [DONE]"),
    ("geminiSse", 'data: {"candidates":[]}\n\n', '{"candidates"'),
    ("geminiArray", '[{"candidates":[{"content":{"parts":[]},"finishReason":"STOP"}],"usageMetadata":{}}\n,\r\n{"oops',
     '{"oops'),
    ("anthropicStream", 'event: message_start\ndata: {"type":"message_start","message":{"role":"assistant"}}\n\n'
                        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0}\n\n',
     "event: content_block_delta"),
])
def test_doctor_checks_point_at_the_first_wrong_byte(open_page, check, raw, bad):
    page = open_page("/doctor?lang=en")
    offset = page.evaluate("([check, raw]) => { try { KimiWire[check](raw); return -1; }"
                           " catch (error) { return error.offset; } }", [check, raw])
    assert offset == raw.index(bad)


PAGES = ["/", "/chat", "/doctor", "/auth"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("path", PAGES)
def test_each_page_has_a_non_blank_screenshot_and_fits_the_width(open_page, path, viewport):
    page = open_page(path, viewport)
    ARTIFACTS.mkdir(exist_ok=True)
    name = (path.strip("/") or "docs") + f"-{viewport['width']}.png"
    png = page.screenshot(path=ARTIFACTS / name, full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert brightness_spread(open_page("/ping"), png) > 100  # a blank or one-colour page has about 0


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_serious_accessibility_violations(open_page, kimi, path, viewport):
    page = open_page(path + "?lang=en", viewport)
    if path == "/":
        open_operation(page, "chat_completions").get_by_role("button", name="Execute").click()
        expect(page.locator("#op-chat_completions [data-role=status]")).to_contain_text("done in")
    elif path == "/chat":
        ask(page, "Show me `code` and a table\n\n| a | b |\n|---|---|\n| 1 | 2 |")
        expect(page.locator(".message-assistant table")).to_be_visible()
    assert serious_violations(page) == []


def test_the_auth_page_works_under_its_own_content_security_policy(browser, gateway):
    # No bypass here: the layout's scripts, stylesheets and favicon must all be allowed by the CSP.
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        problems = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(gateway.url + "/auth")
        expect(page.locator("nav a[aria-current='page']")).to_have_attribute("href", "/auth")
        page.wait_for_load_state("load")
        assert problems == []
    finally:
        context.close()


def test_the_console_snippet_is_copied_and_the_preview_names_what_it_printed(browser, admin_gateway, kimi_auth):
    context = browser.new_context(viewport=DESKTOP)  # under the page's own CSP
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=admin_gateway.url)
    try:
        page = context.new_page()
        page.goto(admin_gateway.url + "/auth?lang=en")
        page.locator("input[name=password]").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.locator(".snippet").get_by_role("button", name="Copy").click()
        expect(page.locator(".snippet .copy-note")).to_have_text("Copied to the clipboard.")
        snippet = page.evaluate("navigator.clipboard.readText()")
        assert snippet == page.locator("#console-snippet").text_content()
        # Run it where the tokens are: this origin's localStorage stands in for www.kimi.com's.
        access, refresh = kimi_auth.issue_pair("browseruser000000001")
        page.evaluate("([a, r]) => { localStorage.setItem('access_token', a);"
                      " localStorage.setItem('refresh_token', JSON.stringify(r)); }", [access, refresh])
        printed = []
        page.on("console", lambda message: printed.append(message.text))
        page.evaluate(snippet)
        assert json.loads(printed[-1]) == {"access_token": access, "refresh_token": refresh}
        page.locator("textarea[name=cookies]").fill(printed[-1])
        preview = page.locator("#cookie-preview")
        expect(preview.locator("[data-field=kind]")).to_have_text("2026 token pair (access + refresh)")
        expect(preview.locator("[data-field=user_id]")).to_have_text("browseruser000000001")
        expect(preview.locator("[data-field=can_renew]")).to_have_text("yes")
        page.get_by_role("button", name="Save account").click()
        expect(page.locator("#accounts tr[data-state=active]")).to_contain_text("browseruser000000001")
    finally:
        context.close()
