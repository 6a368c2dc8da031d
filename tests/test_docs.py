"""The pages' server side: texts in both languages, the language choice, and the docs page built
from the OpenAPI document (Flask's test client; tests/test_pages_browser.py drives them in a browser)."""
import re
from pathlib import Path

import pytest
import yaml

from blueprints.docs import inline_code
from blueprints.openapi import iter_operations, load_spec, resolve

ROOT = Path(__file__).resolve().parent.parent
STRINGS = yaml.safe_load((ROOT / "configs" / "strings.yaml").read_text(encoding="utf-8"))
PAGE_FILES = [ROOT / "templates" / "base.html", *ROOT.glob("templates/*/*.html"),
              *ROOT.glob("static/*/*.js")]
pytestmark = pytest.mark.app(log_level="ERROR")


def test_every_page_text_exists_in_both_languages():
    assert [key for key, texts in STRINGS.items() if set(texts) != {"id", "en"} or not all(texts.values())] == []


def test_every_text_the_pages_use_is_defined():
    used = set()
    for path in PAGE_FILES:
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bt\.(\w+)", source)) | set(re.findall(r"\bt\(\"(\w+)\"", source))
    assert used - set(STRINGS) == set()


def test_every_text_the_auth_page_picks_at_run_time_is_defined():
    # Keys the scan above cannot see: flashed messages and other keys named in the blueprint, and
    # the ones the template builds from an account's state or a row action.
    from blueprints.auth import _ACCOUNT_ACTIONS
    from gateway.accounts import STATES

    named = set(re.findall(r"\"(auth_\w+)\"", (ROOT / "blueprints" / "auth.py").read_text(encoding="utf-8")))
    built = {f"auth_state_{state}" for state in STATES} | {f"auth_{action}" for action in _ACCOUNT_ACTIONS}
    assert named and (named | built) - set(STRINGS) == set()


def test_every_text_of_the_document_shown_on_the_docs_page_has_an_indonesian_twin():
    spec = load_spec()
    nodes = list(spec["tags"])
    for _, _, operation in iter_operations(spec):
        nodes.append(operation)
        nodes += [resolve(spec, parameter) for parameter in operation.get("parameters", [])]
        nodes += [resolve(spec, response) for response in operation["responses"].values()]
    missing = [(node.get("operationId") or node.get("name"), field) for node in nodes
               for field in ("summary", "description") if field in node and f"x-{field}-id" not in node]
    assert missing == []


def test_docs_page_lists_every_api_operation_of_the_document(client):
    html = client.get("/").get_data(as_text=True)
    expected = {op["operationId"] for _, _, op in iter_operations(load_spec()) if op["tags"][0] != "Pages"}
    assert set(re.findall(r'<details class="operation" id="op-([\w]+)"', html)) == expected


def test_pages_speak_indonesian_by_default(client):
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="id">' in html
    assert "Membuat chat completion (streaming atau utuh)" in html


def test_lang_query_switches_to_english_and_is_remembered_in_a_cookie(client):
    response = client.get("/chat?lang=en")
    assert '<html lang="en">' in response.get_data(as_text=True)
    assert "lang=en" in response.headers["Set-Cookie"]
    assert '<html lang="en">' in client.get("/doctor").get_data(as_text=True)
    client.get("/?lang=id")
    assert '<html lang="id">' in client.get("/doctor").get_data(as_text=True)


def test_unknown_language_falls_back_to_indonesian_without_a_cookie(client):
    client.delete_cookie("lang")
    response = client.get("/?lang=fr")
    assert '<html lang="id">' in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers


def test_api_responses_never_get_the_language_cookie(client):
    assert "Set-Cookie" not in client.get("/health?lang=en").headers


def test_inline_code_escapes_html_before_marking_code():
    assert inline_code("send `<b>` & <i>x</i>") == "send <code>&lt;b&gt;</code> &amp; &lt;i&gt;x&lt;/i&gt;"


def test_pages_load_no_script_or_style_from_another_host(client):
    for path in ("/", "/chat", "/doctor"):
        html = client.get(path).get_data(as_text=True)
        assert re.findall(r'(?:src|href)="(?:https?:)?//[^"]*\.(?:js|css)', html) == []


def test_auth_page_sets_the_language_cookie_once(client):
    cookies = client.get("/auth?lang=en").headers.getlist("Set-Cookie")
    assert len([cookie for cookie in cookies if cookie.startswith("lang=")]) == 1
