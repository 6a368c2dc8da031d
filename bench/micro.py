"""Three choices on the gateway's hot paths, each measured in isolation (CPU time of this process only,
and wall time where the disk has its say).

- socket timeout: what a timeout on a gevent socket costs each read (a timer armed and disarmed around
  every wait). 200 loopback socket pairs, one greenlet reading each through a buffered file as the
  gateway reads Kimi, one writer feeding them all every 2 ms. The reason for kimi/stall.py.
- upstream call: one Chat call to bench/upstream.py (a one-frame answer, read to the end) through
  `session.post`, through a request prepared by hand and given to `session.send`, and through
  KimiClient._post itself (urllib3's pool called directly: kimi/transport.py Poster, plus the status check
  and failure mapping). The reason for KimiClient._post's shape.
- store writes (the file store, in a temporary folder on the disk DATA_DIR would use): what a turn's write
  of its remembered values costs (a reply id, a chat's owner and a continuation entry: three rows in one
  SQLite commit without fsync, twice per answer, on the event loop), and what a durable account save costs
  (one row in a commit that reaches the disk, fsync included: a token refresh, once per account every
  ~15 minutes, or an owner's change), and the same turn write handed to gevent's thread pool, which would
  free the event loop while SQLite works. The reason the per-answer values are written without fsync, on
  the loop.

Run: .venv/bin/python -m bench.micro
"""
import os

os.environ.setdefault("GEVENT_RESOLVER", "ares")  # as configs/gunicorn.conf.py sets it for the gateway

from gevent import monkey  # noqa: E402

monkey.patch_all()

import secrets  # noqa: E402
import socket  # noqa: E402  (after the patch, as in the gateway)
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import requests  # noqa: E402

from bench import processes  # noqa: E402
from bench.run import CHAT_PATH, _prompt  # noqa: E402
from configs.settings import load_models  # noqa: E402
from gateway.store.cooperative import off_the_loop  # noqa: E402
from gateway.store.file import FileStore  # noqa: E402
from kimi.connect.client import KimiClient, _access_claims, _constant_headers, _identity  # noqa: E402
from kimi.connect.frames import encode_envelope  # noqa: E402
from kimi.models import ModelTable  # noqa: E402
from kimi.transport import Endpoints, pooled_session  # noqa: E402
from tests.support.jwts import make_jwt  # noqa: E402

PAIRS, ROUNDS = 200, 300
CALLS = 1000
VALUE_WRITES, ACCOUNT_SAVES, ACCOUNTS = 3000, 200, 100


def cpu_per_read(timeout) -> float:
    pairs = [socket.socketpair() for _ in range(PAIRS)]
    for ours, _ in pairs:
        ours.settimeout(timeout)
    files = [ours.makefile("rb") for ours, _ in pairs]

    def reader(file):
        for _ in range(ROUNDS):
            file.read1(65536)

    def writer():
        for _ in range(ROUNDS):
            for _, theirs in pairs:
                theirs.send(b"x" * 100)
            gevent.sleep(0.002)

    started = time.process_time()
    gevent.joinall([gevent.spawn(reader, file) for file in files] + [gevent.spawn(writer)])
    spent = time.process_time() - started
    for ours, theirs in pairs:
        ours.close()
        theirs.close()
    return spent / (PAIRS * ROUNDS) * 1e6


def cpu_per_call(call) -> float:
    for _ in range(50):  # warm-up
        call()
    started = time.process_time()
    for _ in range(CALLS):
        call()
    return (time.process_time() - started) / CALLS * 1e6


def upstream_calls(upstream: processes.Upstream) -> tuple[float, float, float]:
    url = upstream.url + CHAT_PATH
    token = make_jwt(sub="benchuser00000000001")
    headers = {**_constant_headers(upstream.url), **_identity(token, _access_claims(token)), "X-Request-Id": "0" * 32}
    body = encode_envelope({"scenario": "SCENARIO_K2D5", "message": {
        "role": "user", "blocks": [{"message_id": "", "text": {"content": _prompt(1, 0)}}]}})
    session = pooled_session(upstream.url, 10)
    client = KimiClient(endpoints=Endpoints(base_url=upstream.url, chat_path=CHAT_PATH),
                        models=ModelTable(load_models()), session=session)

    def via_post():
        with session.post(url, data=body, headers=headers, timeout=(10, 120), stream=True) as response:
            response.raw.read()

    def via_send():
        request = requests.PreparedRequest()
        request.prepare(method="POST", url=url, headers=headers, data=body)
        with session.send(request, timeout=(10, 120), stream=True) as response:
            response.raw.read()

    def via_client():
        with client._post(client._chat, body, headers) as response:
            response.raw.read()

    return cpu_per_call(via_post), cpu_per_call(via_send), cpu_per_call(via_client)


def store_writes(folder: Path) -> tuple[float, float, float, float, float]:
    """(CPU µs per turn write on the event loop, the same through gevent's thread pool (the process's CPU,
    both threads), wall ms of a durable account save at p50, p90 and max)."""
    store = FileStore(folder)
    # Names and values shaped as a turn's: a reply id, a chat's owner, a continuation entry.
    writes = [[(f"reply:{secrets.token_hex(16)}", f'{{"chat":"{secrets.token_hex(10)}","message":"{secrets.token_hex(10)}"}}', 86400),
               (f"owner:{secrets.token_hex(10)}", secrets.token_hex(8), 86400),
               (f"continuation:{secrets.token_hex(16)}", secrets.token_hex(120), 86400)] for _ in range(2 * VALUE_WRITES + 50)]
    for items in writes[:50]:  # warm-up: the database and its WAL exist
        store.remember_many(items)
    started = time.process_time()
    for items in writes[50:VALUE_WRITES + 50]:
        store.remember_many(items)
    per_write = (time.process_time() - started) / VALUE_WRITES * 1e6
    started = time.process_time()
    for items in writes[VALUE_WRITES + 50:]:
        off_the_loop(store.remember_many, items)  # the hand-off the store gives its durable commits
    per_write_in_thread = (time.process_time() - started) / VALUE_WRITES * 1e6
    store.modify("accounts", lambda accounts: accounts.update(
        {f"acct{i}": {"token": secrets.token_hex(200), "refresh": secrets.token_hex(200)} for i in range(ACCOUNTS)}))
    saves = []
    for i in range(ACCOUNT_SAVES):
        started_wall = time.perf_counter()
        store.modify("accounts", lambda accounts: accounts[f"acct{i % ACCOUNTS}"].update(refresh=secrets.token_hex(200)))
        saves.append((time.perf_counter() - started_wall) * 1000)
    store.close()
    saves.sort()
    return per_write, per_write_in_thread, saves[len(saves) // 2], saves[len(saves) * 9 // 10], saves[-1]


def main() -> None:
    for _ in range(3):
        print(f"CPU per read: {cpu_per_read(60):.2f} µs with a 60 s socket timeout, "
              f"{cpu_per_read(None):.2f} µs without")
    upstream = processes.Upstream()
    try:
        for _ in range(3):
            post, send, client = upstream_calls(upstream)
            print(f"CPU per upstream call: {post:.0f} µs by session.post, {send:.0f} µs prepared + session.send, "
                  f"{client:.0f} µs by KimiClient._post (urllib3 directly)")
    finally:
        upstream.stop()
    with tempfile.TemporaryDirectory(prefix="kimi-bench-store-", dir=os.environ.get("DATA_DIR") or None) as folder:
        for round_ in range(3):
            write, in_thread, p50, p90, longest = store_writes(Path(folder) / str(round_))
            print(f"Store: {write:.0f} µs of CPU per turn write (three values, no fsync) on the event loop, "
                  f"{in_thread:.0f} µs through gevent's thread pool; a durable account save {p50:.2f} ms p50, "
                  f"{p90:.2f} ms p90, {longest:.2f} ms at most (wall, fsync included)")


if __name__ == "__main__":
    main()
