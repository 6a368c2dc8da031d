"""kimi/transport.py: which KimiError each `requests`/urllib3/socket failure becomes, the endpoints built
from settings, and the browser headers every client starts from."""
import http.client
import socket

import pytest
import requests
import urllib3.exceptions

from configs.settings import load_settings
from kimi import errors
from kimi.transport import (USER_AGENT, Endpoints, Faults, browser_headers, calling, pooled_session,
                            reading_answer)
from kimi.stall import Watched

TIMEOUT_FAILURES = [requests.ConnectTimeout(), requests.ReadTimeout(), socket.timeout(), TimeoutError(),
                    urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out")]
CONNECTION_FAILURES = [requests.ConnectionError(), requests.exceptions.ChunkedEncodingError(),
                       urllib3.exceptions.ProtocolError("Connection broken"), http.client.IncompleteRead(b""),
                       ConnectionResetError(), BrokenPipeError(), OSError()]


def _raised_through(faults: Faults, failure: BaseException) -> BaseException:
    with pytest.raises(BaseException) as caught:
        with faults:
            raise failure
    return caught.value


@pytest.mark.parametrize("failure", TIMEOUT_FAILURES, ids=lambda f: type(f).__name__)
def test_a_timeout_of_a_call_is_upstream_timeout(failure):
    err = _raised_through(calling("Kimi"), failure)
    assert type(err) is errors.UpstreamTimeout and err.code == "upstream_timeout"
    assert err.message == "Kimi did not answer in time." and err.__suppress_context__


@pytest.mark.parametrize("failure", CONNECTION_FAILURES, ids=lambda f: type(f).__name__)
def test_a_broken_connection_of_a_call_is_upstream_unreachable(failure, caplog):
    err = _raised_through(calling("Kimi's account service"), failure)
    assert type(err) is errors.UpstreamUnavailable and err.code == "upstream_unreachable"
    assert err.message == "Kimi's account service could not be reached."
    assert caplog.messages == [f"cannot reach Kimi's account service: {type(failure).__name__}"]


@pytest.mark.parametrize("failure", [ValueError("not ours"), errors.BadRequest("already ours")],
                         ids=lambda f: type(f).__name__)
def test_other_exceptions_pass_unchanged(failure):
    assert _raised_through(calling("Kimi"), failure) is failure


@pytest.mark.parametrize("is_stalled, failure, expected", [
    (False, socket.timeout(), (errors.UpstreamTimeout, "upstream_timeout")),
    (False, ConnectionResetError(), (errors.UpstreamUnavailable, "upstream_disconnected")),
    (True, OSError(), (errors.UpstreamTimeout, "upstream_timeout")),  # the stall watch cut the socket
])
def test_a_failed_read_of_an_answer_is_silence_or_a_cut(is_stalled, failure, expected):
    watched = Watched(None, 0.0)
    watched.stalled = is_stalled
    err = _raised_through(reading_answer(watched), failure)
    assert (type(err), err.code) == expected


def test_endpoints_from_default_settings_are_the_defaults():
    assert Endpoints.from_settings(load_settings(environ={})) == Endpoints()


def test_endpoints_from_settings_take_the_overrides():
    settings = load_settings({"kimi_base_url": "http://127.0.0.1:8001/", "kimi_chat_path": "/rpc/Chat",
                              "kimi_delete_chat_path": "/rpc/DeleteChat",
                              "kimi_legacy_base_url": "http://legacy.test",
                              "kimi_auth_base_url": "http://auth.test/", "kimi_refresh_path": "/rpc/Refresh",
                              "kimi_refresh_url": "http://auth.test/refresh",
                              "kimi_probe_url": "http://auth.test/probe"}, environ={})
    endpoints = Endpoints.from_settings(settings)
    assert (endpoints.chat_url, endpoints.delete_chat_url, endpoints.web_origin) == (
        "http://127.0.0.1:8001/rpc/Chat", "http://127.0.0.1:8001/rpc/DeleteChat", "http://127.0.0.1:8001")
    assert (endpoints.legacy_base_url, endpoints.refresh_url, endpoints.legacy_refresh_url, endpoints.probe_url) == (
        "http://legacy.test", "http://auth.test/rpc/Refresh", "http://auth.test/refresh", "http://auth.test/probe")
    assert endpoints.pre_sign_path == "/api/pre-sign-url"  # protocol paths are not settings


def test_account_calls_left_empty_follow_the_web_host():
    settings = load_settings({"kimi_base_url": "https://www.kimi.ai", "kimi_auth_base_url": "https://auth.kimi.ai"},
                             environ={})
    endpoints = Endpoints.from_settings(settings)
    assert (endpoints.refresh_url, endpoints.legacy_refresh_url, endpoints.probe_url) == (
        "https://auth.kimi.ai/api/account.gateway.v1.AuthService/RefreshToken",
        "https://www.kimi.ai/api/auth/token/refresh",
        "https://www.kimi.ai/apiv2/kimi.gateway.order.v1.SubscriptionService/GetSubscription")


def test_legacy_chat_paths_name_the_chat():
    endpoints = Endpoints()
    assert (endpoints.legacy_chat("c1"), endpoints.completion_path("c1"), endpoints.chat_page("c1")) == (
        "/api/chat/c1", "/api/chat/c1/completion/stream", "/chat/c1")


def test_browser_headers_take_origin_and_referer_from_the_host():
    assert browser_headers("https://www.kimi.com/some/prefix", "/chat/c1") == {
        "Origin": "https://www.kimi.com", "Referer": "https://www.kimi.com/chat/c1", "User-Agent": USER_AGENT,
        "X-Msh-Platform": "web"}


def test_the_pooled_session_trusts_the_ca_bundle_the_environment_names(monkeypatch):
    # A TLS-inspecting proxy's authority (or the bench's throwaway one) reaches prepared requests too.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")
    assert pooled_session("https://www.kimi.com", 4).verify == "/etc/ssl/company-ca.pem"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert pooled_session("https://www.kimi.com", 4).verify is True
