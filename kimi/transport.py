"""HTTP to Kimi, written once: the shared sessions, the browser headers, the endpoints every call is aimed
at (built from settings), the Chat path's lean POST (Poster: a session's urllib3 pool without requests'
per-call work), and the one mapping of `requests`/urllib3/socket failures to KimiErrors, used around each
send and around each body's reads. Nothing here imports flask or the layers above kimi/.

A requests.Session stores every Set-Cookie it sees and sends it back on later calls to that host. One
session serves every caller here, so a cookie Kimi (or a site an attachment is fetched from) set for one
caller would ride along on the next caller's request: Kimi could then answer on the wrong account.
Credentials always travel as explicit headers instead.
"""
from __future__ import annotations

import email.utils
import http.client
import http.cookiejar
import logging
import math
import select
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import requests
import urllib3
import urllib3.connection
import urllib3.exceptions
from gevent.monkey import get_original
from urllib3.util.ssl_ import create_urllib3_context

from kimi import errors
from kimi.stall import Watched

log = logging.getLogger(__name__)

USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36")
TIMEOUTS = (requests.Timeout, urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError)
# Checked after TIMEOUTS: a requests.Timeout is a RequestException, a socket.timeout an OSError.
CONNECTION_FAULTS = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)
# Checked before TIMEOUTS: urllib3's refused connection (or unknown host) is a ConnectTimeoutError for
# compatibility's sake; requests calls it a ConnectionError, and so do we (urllib3 is called directly: Poster).
REFUSED = urllib3.exceptions.NewConnectionError


# The operating system's poll, whether or not gevent patched `select` (a zero-timeout check never waits).
_PLAIN_POLL = get_original("select", "poll")

_LEGACY_REFRESH_PATH = "/api/auth/token/refresh"
_PROBE_PATH = "/apiv2/kimi.gateway.order.v1.SubscriptionService/GetSubscription"  # on the web host (A.1)


@dataclass(frozen=True)
class Endpoints:
    """Every Kimi URL and path the code calls. The hosts, the Connect paths and the account URLs are
    settings (configs/defaults.yaml); the REST paths are the protocol's own, the same on both hosts
    (docs/kimi-protocol.md A.13, B.1-B.6). The defaults are the settings' defaults."""

    base_url: str = "https://www.kimi.com"  # the web host: Connect RPC and its uploads
    chat_path: str = "/apiv2/kimi.gateway.chat.v1.ChatService/Chat"
    delete_chat_path: str = "/apiv2/kimi.chat.v1.ChatService/DeleteChat"
    models_path: str = "/apiv2/kimi.gateway.config.v1.ConfigService/GetAvailableModels"  # the catalogue (B.2)
    # The quota readout (kimi-protocol-2026.md B.6): usage ratios and reset times of one account.
    subscription_stats_path: str = "/apiv2/kimi.gateway.membership.v2.MembershipService/GetSubscriptionStats"
    legacy_base_url: str = "https://kimi.moonshot.cn"
    # The account calls (D.1): the refresh RPC on the auth host; the old GET on the web host, tried
    # only where the RPC is unknown (404); the live-token probe on the web host.
    refresh_url: str = "https://auth.kimi.com/api/account.gateway.v1.AuthService/RefreshToken"
    legacy_refresh_url: str = "https://www.kimi.com" + _LEGACY_REFRESH_PATH
    probe_url: str = "https://www.kimi.com" + _PROBE_PATH
    # 2026 uploads on the web host (kimi-protocol-2026.md B.5): a multipart POST, then the parse progress.
    file_upload_path: str = "/apiv2-files/file/upload"
    file_progress_path: str = "/apiv2-files/kimi.gateway.file.v1.FileService/GetFileParseProgress"
    # The older upload (A.13): pre-sign, PUT, register; used where the 2026 path is unknown (404).
    pre_sign_path: str = "/api/pre-sign-url"
    file_path: str = "/api/file"
    parse_progress_path: str = "/api/file/parse_process"
    legacy_chat_path: str = "/api/chat"  # POST creates a chat; /<chat_id> deletes it (B.2)
    research_usage_path: str = "/api/chat/research/usage"
    legacy_refresh_path: str = _LEGACY_REFRESH_PATH  # on the legacy host (B.1)
    user_path: str = "/api/user"
    chat_page_path: str = "/chat"  # the web page of a chat (+ /<chat_id>): the Referer of its completions

    def __post_init__(self) -> None:
        for name in ("base_url", "legacy_base_url"):
            object.__setattr__(self, name, getattr(self, name).rstrip("/"))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Endpoints:
        """The endpoints the settings name (kimi_base_url, kimi_chat_path, ...); the rest keep their defaults."""
        web = settings["kimi_base_url"].rstrip("/")
        return cls(base_url=web, chat_path=settings["kimi_chat_path"],
                   delete_chat_path=settings["kimi_delete_chat_path"],
                   models_path=settings["kimi_models_path"],
                   subscription_stats_path=settings["kimi_quota_path"],
                   legacy_base_url=settings["kimi_legacy_base_url"],
                   refresh_url=settings["kimi_auth_base_url"].rstrip("/") + settings["kimi_refresh_path"],
                   # Empty settings: the call on the web host, wherever KIMI_BASE_URL points.
                   legacy_refresh_url=settings["kimi_refresh_url"] or web + _LEGACY_REFRESH_PATH,
                   probe_url=settings["kimi_probe_url"] or web + _PROBE_PATH)

    @property
    def web_origin(self) -> str:
        """The Origin of the web page whose calls we make: Connect's and the account calls'."""
        return origin_of(self.base_url)

    @property
    def chat_url(self) -> str:
        return self.base_url + self.chat_path

    @property
    def delete_chat_url(self) -> str:
        return self.base_url + self.delete_chat_path

    def legacy_chat(self, chat_id: str) -> str:
        return f"{self.legacy_chat_path}/{chat_id}"

    def completion_path(self, chat_id: str) -> str:
        return f"{self.legacy_chat_path}/{chat_id}/completion/stream"

    def chat_page(self, chat_id: str) -> str:
        return f"{self.chat_page_path}/{chat_id}"


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class VerifiedOnceAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with each CA bundle loaded into one TLS context per process instead of once per
    new connection. requests hands urllib3 the bundle's path (certifi's, or REQUESTS_CA_BUNDLE), and urllib3
    then builds a context and parses the whole bundle for every connection it opens: ~14 ms of CPU each
    with certifi's 140-odd authorities, paid by every new connection to www.kimi.com (a burst opens many).
    The shared context verifies exactly as the per-connection one did: the same bundle, CERT_REQUIRED, the
    host name checked. Its pools (a proxy's too) make connections of the kept classes below, which check an
    idle connection with one plain poll and keep a TLS session for later connections."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._contexts: dict[str, ssl.SSLContext] = {}
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # Every pool's connections, from its first: the first call to a host (a model catalogue, say)
        # opens the connection that the Chat calls after it reuse most.
        self.poolmanager.pool_classes_by_scheme = _KEPT_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.PoolManager:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # a SOCKS proxy's manager brings connection classes of its own
            manager.pool_classes_by_scheme = _KEPT_POOLS
        return manager

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        bundle = getattr(conn, "ca_certs", None)
        if url.lower().startswith("https") and verify and bundle and not getattr(conn, "ca_cert_dir", None):
            conn.conn_kw["ssl_context"] = self._context_for(bundle)
            conn.ca_certs = None  # loaded into the context already: urllib3 would parse it again per connection

    def _context_for(self, bundle: str) -> ssl.SSLContext:
        context = self._contexts.get(bundle)
        if context is None:
            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            context.load_verify_locations(cafile=bundle)
            _SessionResumption(context)
            self._contexts[bundle] = context
        return context


class _SessionResumption:
    """Makes `context` offer each new connection to a host the TLS session of an earlier one to it: a TLS 1.3
    ticket, which Kimi's servers send after the handshake and which a Chat connection keeps once it has read
    its first answer's head (_KeptHTTPSConnection). A resumed handshake skips the certificate and its
    verification: a Chat answer on a new TLS connection cost 1.38-1.42 ms of CPU here, resumed 1.17-1.22 ms,
    which a burst opening many pays one after another, and the server signs nothing. A session is only
    offered to the host name it was verified for, and only by this context; a server that no longer accepts
    it answers with a full handshake, whose session is kept instead."""

    def __init__(self, context: ssl.SSLContext):
        self._wrap = context.wrap_socket
        self._sessions: dict[str, ssl.SSLSession] = {}  # host name -> a session with a ticket
        context.wrap_socket = self.wrap_socket  # what urllib3 calls for every new connection
        context.session_resumption = self  # found again by the connection it made (_KeptHTTPSConnection)

    def wrap_socket(self, sock: socket.socket, *args: Any, server_hostname: Optional[str] = None,
                    session: Optional[ssl.SSLSession] = None, **kwargs: Any) -> ssl.SSLSocket:
        if session is None and server_hostname:
            session = self._sessions.get(server_hostname)
        return self._wrap(sock, *args, server_hostname=server_hostname, session=session, **kwargs)

    def keep(self, connection: ssl.SSLSocket) -> None:
        """Keep the session of a connection whose handshake made a new one, once its ticket is in."""
        session = connection.session
        if session is not None and session.has_ticket and connection.server_hostname:
            self._sessions[connection.server_hostname] = session


def shared_session() -> requests.Session:
    """A session whose cookie jar refuses every cookie (what it was sent is never sent again)."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    session.mount("https://", VerifiedOnceAdapter())
    return session


def pooled_session(base_url: str, pool_size: int) -> requests.Session:
    """A shared session that keeps up to `pool_size` connections to Kimi open for reuse: one gevent worker
    holds hundreds of streams, and requests' default pool of 10 would drop (and log) the rest."""
    session = shared_session()
    # Proxy settings (HTTPS_PROXY, NO_PROXY) and the CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) are
    # read once here instead of on every request, which with trust_env also re-reads ~/.netrc: a
    # measurable share of each request's CPU (bench/). Prepared requests go to session.send, which reads
    # only the session's own `proxies` and `verify`.
    environ = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies, session.verify = environ["proxies"], environ["verify"]
    session.trust_env = False
    adapter = VerifiedOnceAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def browser_headers(url: str, referer_path: str = "/") -> dict[str, str]:
    """What every call from Kimi's web page carries (A.3, B.1): its User-Agent and platform, and `url`'s
    host as Origin and Referer. Each client builds its constant headers from this once."""
    origin = origin_of(url)
    return {"Origin": origin, "Referer": origin + referer_path, "User-Agent": USER_AGENT, "X-Msh-Platform": "web"}


class Answer:
    """An upstream response opened by `Poster`: urllib3's response as `raw` (what requests' Response
    holds there too) and its status; closing it gives a connection read to the end back to the pool."""

    __slots__ = ("raw", "status_code")

    def __init__(self, raw: urllib3.BaseHTTPResponse):
        self.raw = raw
        self.status_code = raw.status

    @property
    def headers(self) -> Any:
        return self.raw.headers  # case-insensitive, as requests' Response.headers

    def close(self) -> None:
        self.raw.close()  # as requests' Response.close: a half-read connection is closed, not reused
        self.raw.release_conn()

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _idle_connection_is_open(connection: Any) -> bool:
    """urllib3's check of a pooled connection before reuse (nothing to read yet: neither data nor the end
    of a connection Kimi closed), made with one plain poll call. urllib3 asks `select.poll`, which gevent
    replaces with a cooperative one that sets up watchers and runs a turn of the event loop even for a zero
    timeout: ~10 µs of CPU on every Chat call instead of ~1 (bench/)."""
    if connection.sock is None:
        return False
    poller = _PLAIN_POLL()
    poller.register(connection.sock, select.POLLIN)
    return not poller.poll(0)


class _KeptHTTPConnection(urllib3.connection.HTTPConnection):
    is_connected = property(_idle_connection_is_open)


class _KeptHTTPSConnection(urllib3.connection.HTTPSConnection):
    is_connected = property(_idle_connection_is_open)
    _has_new_session = False  # a full handshake's session, to keep once its ticket has arrived

    def connect(self) -> None:
        super().connect()
        # Through an HTTPS proxy the socket is urllib3's TLS-in-TLS wrapper, which resumes nothing.
        self._has_new_session = getattr(self.sock, "session_reused", True) is False

    def getresponse(self) -> Any:
        response = super().getresponse()
        if self._has_new_session:  # once per connection: the ticket came before the answer's head
            self._has_new_session = False
            resumption = getattr(self.ssl_context, "session_resumption", None)
            if resumption is not None:
                resumption.keep(self.sock)
        return response


class _KeptHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _KeptHTTPConnection


class _KeptHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _KeptHTTPSConnection


_KEPT_POOLS = {"http": _KeptHTTPConnectionPool, "https": _KeptHTTPSConnectionPool}


class Poster:
    """POSTs to one URL through `session`'s connection pool (its adapter, proxies and CA bundle), straight
    to urllib3: requests' Session.send and HTTPAdapter.send cost ~100 µs of CPU per call on top (hooks,
    two cookie extractions, header validation, a Response with its cookie jar; bench/), and a Chat call
    needs none of it. No retries, no redirects: a failure is the caller's to map (`calling`)."""

    def __init__(self, session: requests.Session, url: str, timeout: tuple[float, float]):
        self.session = session
        self.url = url
        self.timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        self._request = requests.PreparedRequest()
        self._request.prepare(method="POST", url=url)
        self._pool: Optional[urllib3.HTTPConnectionPool] = None
        self._target = ""

    def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        """The answer once its head is in; its body is read by the caller (then `close()`)."""
        pool = self._pool
        if pool is None or pool.pool is None:  # first call, or the pool manager dropped (closed) it
            pool = self._pool = self._open_pool()
        return Answer(pool.urlopen("POST", self._target, body=body, headers=headers, retries=False,
                                   redirect=False, assert_same_host=False, timeout=self.timeout,
                                   preload_content=False, decode_content=False))

    def _open_pool(self) -> urllib3.HTTPConnectionPool:
        adapter = self.session.get_adapter(self.url)
        proxies = self.session.proxies
        pool = adapter.get_connection_with_tls_context(self._request, self.session.verify, proxies, None)
        adapter.cert_verify(pool, self.url, self.session.verify, None)
        self._target = adapter.request_url(self._request, proxies)  # the full URL through an http:// proxy
        return pool


class Faults:
    """A `with` block around a send or a body's reads: inside it, a timeout raises `timeout()` and a
    broken or refused connection `unreachable()` (logged as "`logged`: <exception name>" when given);
    every other exception passes. Built once per kind of call where its errors are fixed."""

    __slots__ = ("timeout", "unreachable", "logged")

    def __init__(self, timeout: Callable[[], errors.KimiError], unreachable: Callable[[], errors.KimiError],
                 logged: str = ""):
        self.timeout = timeout
        self.unreachable = unreachable
        self.logged = logged

    def __enter__(self) -> Faults:
        return self

    def __exit__(self, kind: Any, exc: Any, traceback: Any) -> None:
        if kind is None:
            return
        if issubclass(kind, TIMEOUTS) and not issubclass(kind, REFUSED):
            raise self.timeout() from None
        if issubclass(kind, CONNECTION_FAULTS):
            if self.logged:
                log.warning("%s: %s", self.logged, kind.__name__)
            raise self.unreachable() from None


def calling(service: str, logged_as: str = "") -> Faults:
    """The faults of a call to `service` ("Kimi", "Kimi's account service"): upstream_timeout when it
    does not answer in time, upstream_unreachable when it cannot be reached."""
    return Faults(lambda: errors.UpstreamTimeout(f"{service} did not answer in time.", code="upstream_timeout"),
                  lambda: errors.UpstreamUnavailable(f"{service} could not be reached.", code="upstream_unreachable"),
                  logged=f"cannot reach {logged_as or service}")


def reading_answer(watched: Watched) -> Faults:
    """The faults of reading an answer (both paths): silence past the read deadline, or a connection that
    broke; one the stall watch cut (kimi/stall.py) counts as silence."""
    return Faults(errors.silent_mid_answer,
                  lambda: errors.silent_mid_answer() if watched.stalled else errors.cut_mid_answer())


def read_excerpt(response: "requests.Response | Answer", limit: int) -> str:
    """Up to `limit` bytes of an error answer's body as text; "" when even that cannot be read."""
    try:
        return response.raw.read(limit, decode_content=True).decode("utf-8", "replace")
    except (*TIMEOUTS, *CONNECTION_FAULTS):
        return ""


def http_error(response: "requests.Response | Answer", limit: int) -> errors.KimiError:
    """The KimiError of a non-200 answer: its status, a short excerpt of its body, and its Retry-After."""
    return errors.from_http_status(response.status_code, read_excerpt(response, limit),
                                   retry_after_of(response.headers.get("Retry-After")))


def retry_after_of(value: Optional[str]) -> Optional[int]:
    """The whole seconds a Retry-After header asks for (delay-seconds or an HTTP date); None without one."""
    value = (value or "").strip()
    if value.isdigit():
        return int(value) or None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    seconds = math.ceil(moment.timestamp() - time.time())
    return seconds if seconds > 0 else None
