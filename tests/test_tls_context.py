"""New TLS connections to Kimi share one verifying context per CA bundle (kimi/transport.VerifiedOnceAdapter):
urllib3 would otherwise parse the whole bundle again for every connection it opens. Verification stays as
strict: another authority's certificate, or one for another host name, is refused. A new connection resumes
the TLS session of an earlier one to the same host name (through an HTTPS_PROXY tunnel too), and falls back to
a full handshake where the server no longer accepts it."""
import os
import ssl

import pytest
import requests
import trustme

from configs.settings import load_models
from kimi.catalogue import CatalogueClient
from kimi.connect.client import KimiClient
from kimi.errors import UpstreamUnavailable
from kimi.events import ChatRequest, Message
from kimi.models import ModelTable
from kimi.transport import Endpoints, VerifiedOnceAdapter
from tests.support.connect_proxy import ConnectProxy
from tests.support.fake_kimi import FakeKimi
from tests.support.fixture_streams import PLAIN_TEXT
from tests.support.gateways import Gateway
from tests.support.jwts import make_jwt

AUTHORITY = trustme.CA()
TOKEN = make_jwt(sub="tlscontexttlscontext")
CHAT = ChatRequest(model="kimi-k2.5-instant", messages=[Message("user", "Hello")])


@pytest.fixture
def ca_file():
    with AUTHORITY.cert_pem.tempfile() as path:
        yield path


def tls_kimi(authority=AUTHORITY, *host_names, port=0):
    """A fake Kimi over TLS with a certificate from `authority` for `host_names` (127.0.0.1 by default);
    each call a new server context, so its own session-ticket keys."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*(host_names or ("127.0.0.1",))).configure_cert(context)
    return FakeKimi().start(port=port, tls=context)


def client_for(kimi, ca_file):
    client = KimiClient(endpoints=Endpoints(base_url=kimi.url), models=ModelTable(load_models()))
    client.session.verify = ca_file
    return client


def read_whole(client):
    """One Chat answer read to its end (its connection goes back to the pool), checked."""
    stream = client.open_chat(CHAT, TOKEN)
    assert "".join(getattr(event, "text", "") for event in stream) == PLAIN_TEXT
    stream.close()


def fetch_catalogue(kimi, client):
    """The account's model catalogue, through the client's session: often an account's first call."""
    kimi.catalogue_for(TOKEN)
    CatalogueClient(Endpoints(base_url=kimi.url), client.session).fetch(TOKEN)


def test_each_new_connection_verifies_with_the_one_context_loaded_from_the_bundle(ca_file):
    kimi = tls_kimi()
    try:
        client = client_for(kimi, ca_file)
        for _ in range(3):  # each stream abandoned before its end closes its connection: three new ones
            kimi.replay("plain_text.jsonl")
            client.open_chat(CHAT, TOKEN).close()
        kimi.replay("plain_text.jsonl")
        read_whole(client)
        assert kimi.connections_accepted == 4
        adapter = client.session.get_adapter(kimi.url)
        assert isinstance(adapter, VerifiedOnceAdapter)
        pool = client._chat._pool  # the Chat call's pool, as its Poster took it from the adapter
        # The bundle went into one context that every new connection is given; urllib3 is no longer
        # handed its path, which it would parse again for each connection.
        assert pool.conn_kw["ssl_context"] is adapter._context_for(ca_file) and pool.ca_certs is None
        assert pool.conn_kw["ssl_context"].verify_mode == ssl.CERT_REQUIRED
        assert pool.conn_kw["ssl_context"].check_hostname is True
    finally:
        kimi.stop()


@pytest.mark.parametrize("authority, host_name", [(trustme.CA(), "127.0.0.1"), (AUTHORITY, "kimi.example")],
                         ids=["another authority", "another host name"])
def test_a_certificate_of_another_authority_or_host_is_refused(ca_file, authority, host_name):
    kimi = tls_kimi(authority, host_name)
    try:
        with pytest.raises(UpstreamUnavailable):
            client_for(kimi, ca_file).open_chat(CHAT, TOKEN)
        assert kimi.requests == []
    finally:
        kimi.stop()


def test_a_new_connection_resumes_the_tls_session_of_an_earlier_one_to_the_same_host(ca_file):
    kimi = tls_kimi(AUTHORITY, "127.0.0.1", "localhost")
    try:
        client = client_for(kimi, ca_file)
        for _ in range(3):  # read whole, then one abandoned on the same connection, which closes it
            kimi.replay("plain_text.jsonl").replay("plain_text.jsonl")
            read_whole(client)
            client.open_chat(CHAT, TOKEN).close()
        # The first connection made the session; every later one resumed it.
        assert (kimi.connections_accepted, kimi.connections_resumed) == (3, 2)

        # Another host name is never offered that session, though the certificate names both.
        other = KimiClient(endpoints=Endpoints(base_url=kimi.url.replace("127.0.0.1", "localhost")),
                           models=ModelTable(load_models()), session=client.session)
        kimi.replay("plain_text.jsonl")
        other.open_chat(CHAT, TOKEN).close()
        assert (kimi.connections_accepted, kimi.connections_resumed) == (4, 2)
    finally:
        kimi.stop()


def test_a_connection_a_catalogue_call_opened_gives_its_session_to_later_ones(ca_file):
    # An account's first call is often its model catalogue: the Chat calls after it reuse that connection.
    kimi = tls_kimi()
    try:
        client = client_for(kimi, ca_file)
        fetch_catalogue(kimi, client)
        kimi.replay("plain_text.jsonl").replay("plain_text.jsonl")
        client.open_chat(CHAT, TOKEN).close()  # on the catalogue's connection, abandoned: closes it
        client.open_chat(CHAT, TOKEN).close()
        assert (kimi.connections_accepted, kimi.connections_resumed) == (2, 1)
    finally:
        kimi.stop()


def test_through_an_https_proxy_connections_are_kept_and_resume_the_session(ca_file):
    # HTTPS_PROXY: each connection to Kimi is a CONNECT tunnel, and TLS to Kimi runs inside it as without one.
    kimi, proxy = tls_kimi(), ConnectProxy()
    try:
        client = client_for(kimi, ca_file)
        client.session.proxies = {"https": proxy.url}  # as pooled_session reads HTTPS_PROXY
        fetch_catalogue(kimi, client)
        kimi.replay("plain_text.jsonl").replay("plain_text.jsonl").replay("plain_text.jsonl")
        for _ in range(2):  # read whole: the connection goes back to the pool, and is taken again
            read_whole(client)
        assert (proxy.tunnels, kimi.connections_accepted, kimi.connections_resumed) == (1, 1, 0)
        client.open_chat(CHAT, TOKEN).close()  # abandoned: closes it; the next call opens a new tunnel
        kimi.replay("plain_text.jsonl")
        read_whole(client)
        assert (proxy.tunnels, kimi.connections_accepted, kimi.connections_resumed) == (2, 2, 1)
    finally:
        proxy.stop()
        kimi.stop()


def test_a_session_the_server_no_longer_accepts_falls_back_to_a_full_handshake(ca_file):
    kimi = tls_kimi()
    try:
        client = client_for(kimi, ca_file)
        kimi.replay("plain_text.jsonl").replay("plain_text.jsonl")
        read_whole(client)
        port = int(kimi.url.rsplit(":", 1)[1])
        assert (kimi.connections_accepted, kimi.connections_resumed) == (1, 0)
        kimi.close_connections()  # the pooled one too: the next call opens a new connection
        kimi.stop()
        # The same port, a server context with new ticket keys: the session is refused, the call is not.
        kimi = tls_kimi(port=port)
        kimi.replay("plain_text.jsonl")
        read_whole(client)
        assert (kimi.connections_accepted, kimi.connections_resumed) == (1, 0)
        kimi.replay("plain_text.jsonl").replay("plain_text.jsonl")
        client.open_chat(CHAT, TOKEN).close()  # closes the connection: the next one is new, and resumes
        client.open_chat(CHAT, TOKEN).close()
        assert (kimi.connections_accepted, kimi.connections_resumed) == (2, 1)
    finally:
        kimi.stop()


def test_a_gunicorn_worker_resumes_tls_sessions_to_kimi(ca_file, tmp_path, user_token):
    """The deployment's own path: gevent's TLS sockets under the Procfile's server."""
    kimi = tls_kimi()
    env = {**os.environ, "KIMI_BASE_URL": kimi.url, "REQUESTS_CA_BUNDLE": ca_file, "DATA_DIR": str(tmp_path / "data"),
           "KIMI_TOKEN": "", "API_KEYS": "", "WEB_CONCURRENCY": "1", "MODEL_CATALOGUE_TTL": "0"}
    gateway = Gateway(env, tmp_path)
    try:
        for _ in range(3):
            kimi.replay("plain_text.jsonl")
            response = requests.post(gateway.url + "/v1/chat/completions", timeout=10,
                                     headers={"Authorization": f"Bearer {user_token}"},
                                     json={"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": "hi"}]})
            assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == PLAIN_TEXT
            kimi.close_connections()  # as Kimi closes idle ones: the next answer needs a new connection
            assert kimi.wait_for(lambda: not kimi.is_connection_open(kimi.connections_accepted))
        assert (kimi.connections_accepted, kimi.connections_resumed) == (3, 2)
    finally:
        gateway.stop()
        kimi.stop()
