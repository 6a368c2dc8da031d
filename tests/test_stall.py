"""kimi/stall.py: one watcher keeps the read deadline of every open answer (real sockets, real threads)."""
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kimi import errors
from kimi.connect.client import KimiClient
from kimi.events import ChatRequest, Message, TextDelta
from kimi.models import ModelTable
from kimi.stall import StallWatch
from kimi.transport import Endpoints
from configs.settings import load_models
from tests.support.jwts import make_jwt

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_stream_waiting_in_one_read_is_marked_and_cut_once_its_deadline_passes(pair):
    ours, theirs = pair
    watch = StallWatch(timeout=10, tick=60)
    watched = watch.watch(ours)
    assert ours.gettimeout() is None  # the socket no longer times out by itself
    start = watched._quiet_since
    watched.reads += 1  # a read starts
    assert watch.check(start) == []  # seen here: waiting from now on
    assert watch.check(start + 9.9) == [] and not watched.stalled
    assert watch.check(start + 10) == [watched] and watched.stalled
    assert ours.recv(10) == b""  # shut down: a reader waiting on it wakes with end-of-file
    assert watch.check(start + 30) == []  # cut once, then forgotten


def test_reads_push_the_deadline_back(pair):
    ours, _ = pair
    watch = StallWatch(timeout=10, tick=60)
    watched = watch.watch(ours)
    start = watched._quiet_since
    watched.reads += 1
    assert watch.check(start) == []
    watched.reads += 2  # that read ended and the next one started
    assert watch.check(start + 5) == []  # the new count is seen here: waiting from now on
    assert watch.check(start + 14.9) == []
    assert watch.check(start + 15) == [watched]


def test_time_outside_a_read_never_counts_as_silence(pair):
    ours, _ = pair
    watch = StallWatch(timeout=10, tick=60)
    watched = watch.watch(ours)
    start = watched._quiet_since
    watched.reads += 2  # a read ended: the reader writes to a client that reads slowly
    for later in (0, 30, 600):
        assert watch.check(start + later) == []
    watched.reads += 1  # it reads again: the deadline starts now
    assert watch.check(start + 601) == [] and watch.check(start + 611) == [watched]


def test_a_forgotten_stream_is_never_cut(pair):
    ours, theirs = pair
    watch = StallWatch(timeout=10, tick=60)
    watched = watch.watch(ours)
    watch.forget(watched)
    assert watch.check(watched._quiet_since + 100) == [] and not watched.stalled
    theirs.sendall(b"x")
    assert ours.recv(10) == b"x"


def test_the_watcher_thread_wakes_a_blocked_reader(pair):
    ours, _ = pair
    watch = StallWatch(timeout=0.2)
    assert watch.tick == 0.05  # a quarter of the deadline, never under 50 ms nor over a second
    assert StallWatch(timeout=120).tick == 1.0
    watched = watch.watch(ours)
    watched.reads += 1  # as ChatStream counts a read that starts
    received = []
    reader = threading.Thread(target=lambda: received.append(ours.recv(10)))
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive() and received == [b""] and watched.stalled


def _client(kimi, read_timeout):
    return KimiClient(endpoints=Endpoints(base_url=kimi.url), models=ModelTable(load_models()),
                      read_timeout=read_timeout)


def _chat():
    return ChatRequest(model="kimi-latest", messages=[Message("user", "Hello")], stream=True)


def test_an_answer_that_goes_silent_raises_a_timeout_and_leaves_nothing_watched(kimi):
    kimi.stall(after_frames=6, seconds=20)
    client = _client(kimi, read_timeout=0.3)
    stream = client.open_chat(_chat(), make_jwt(sub="stallstallstallstall"))
    with pytest.raises(errors.UpstreamTimeout, match="stopped sending in the middle"):
        list(stream)
    assert not client.stalls._watched
    assert kimi.wait_for(lambda: kimi.open_streams == 0, timeout=5)


def test_a_finished_answer_is_no_longer_watched(kimi):
    kimi.long_answer(n_frames=5, delay=0.05)
    client = _client(kimi, read_timeout=5)
    stream = client.open_chat(_chat(), make_jwt(sub="stallstallstallstall"))
    assert [watched.sock.gettimeout() for watched in client.stalls._watched] == [None]
    text = "".join(event.text for event in stream if isinstance(event, TextDelta))
    assert text == "word0 word1 word2 word3 word4 " and not client.stalls._watched


@pytest.mark.parametrize("mode", ["threads", "gevent"])
def test_a_silent_answer_over_tls_is_a_timeout(mode):
    # Kimi is reached over TLS: the stall watch must cut a TLS connection too, plain and under gevent.
    done = subprocess.run([sys.executable, "-m", "tests.support.scripts.tls_stall", mode], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "UpstreamTimeout Kimi stopped sending in the middle of the answer.", done.stderr


def test_time_the_consumer_spends_elsewhere_is_not_silence(kimi):
    # A gateway worker blocked writing to a slow client is not waiting for Kimi: no cut for that.
    kimi.long_answer(n_frames=5, delay=0.05)
    client = _client(kimi, read_timeout=0.3)
    stream = client.open_chat(_chat(), make_jwt(sub="stallstallstallstall"))
    texts = [next(event.text for event in stream if isinstance(event, TextDelta))]  # the first word
    time.sleep(1.2)  # four deadlines and then some, with the watcher ticking every 75 ms
    texts += [event.text for event in stream if isinstance(event, TextDelta)]
    assert "".join(texts) == "word0 word1 word2 word3 word4 "
