"""LegacyClient's error paths against the fake legacy upstream: which KimiError, raised when (before the
first content, or while iterating), and the temporary chat cleaned up every way out."""
import logging
import socket
import time

import pytest

from configs.settings import load_models
from kimi import errors
from kimi.events import ChatRequest, Finished, Message, TextDelta
from kimi.legacy.client import LegacyClient
from kimi.legacy.parse import POLICY_NOTE
from kimi.models import ModelTable
from kimi.transport import Endpoints

pytest_plugins = ["tests.support.legacy_fixtures"]  # legacy (this module's own fake upstream), legacy_client

REFRESH = "rt-errors-test-token-01"
MODELS = ModelTable(load_models())


def chat(text="Hello there", **kwargs):
    return ChatRequest(model="kimi", messages=[Message("user", text)], **kwargs)


def text_of(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("error_type, kind", [
    ("chat.user_stream_pushing", errors.RateLimited),
    ("openai.completion.token_length_too_long", errors.BadRequest),
    ("openai.completion.stream", errors.UpstreamUnavailable),
    ("chat.forbidden", errors.PermissionDenied),
    ("auth.token.invalid", errors.AuthRejected),
])
def test_an_error_before_any_content_raises_from_open_chat_and_deletes_the_chat(legacy, legacy_client,
                                                                                error_type, kind):
    legacy.error(error_type, "from Kimi")
    with pytest.raises(kind):
        legacy_client.open_chat(chat(), REFRESH)
    assert legacy.deleted_chats == legacy.created_chats and len(legacy.created_chats) == 1


def test_a_json_failure_body_with_http_200_is_an_error(legacy, legacy_client):
    legacy.json_error("openai.completion.token_length_too_long", "too long")
    with pytest.raises(errors.BadRequest, match="conversation is too long"):
        legacy_client.open_chat(chat(), REFRESH)


@pytest.mark.parametrize("status, kind", [(500, errors.UpstreamUnavailable), (403, errors.PermissionDenied),
                                          (429, errors.RateLimited), (504, errors.UpstreamTimeout)])
def test_http_errors_on_the_completion_map_to_kinds(legacy, legacy_client, status, kind):
    legacy.http_error(status, {"message": "nope"})
    with pytest.raises(kind):
        legacy_client.open_chat(chat(), REFRESH)
    assert legacy.deleted_chats == legacy.created_chats


def test_a_server_busy_error_after_some_text_fails_the_stream_while_iterating(legacy, legacy_client):
    legacy.replay("legacy_sse_error.txt")
    stream = legacy_client.open_chat(chat(), REFRESH)
    seen = []
    with pytest.raises(errors.UpstreamUnavailable, match="busy"):
        for event in stream:
            seen.append(event)
    stream.close()
    assert text_of(seen) == "Crisp leaves" and legacy.deleted_chats == [stream.chat_id]


def test_a_content_policy_stop_after_some_text_ends_with_a_visible_note(legacy, legacy_client):
    legacy.error("chat.forbidden", "not allowed", after_text="Here is the start")
    stream = legacy_client.open_chat(chat(), REFRESH)
    events = list(stream)
    stream.close()
    assert text_of(events) == "Here is the start" + POLICY_NOTE and events[-1] == Finished("stop")


def test_a_second_answer_into_a_busy_chat_is_429(legacy, legacy_client):
    legacy.hold("Still typing")
    first = legacy_client.open_chat(chat(), REFRESH, keep_chat=True)
    try:
        with pytest.raises(errors.RateLimited, match="still answering") as caught:
            legacy_client.open_chat(chat(conversation_id=first.chat_id), REFRESH)
        assert caught.value.retry_after == 5
    finally:
        first.close()


def test_a_stream_that_ends_cleanly_without_done_is_truncated(legacy, legacy_client):
    legacy.events([{"event": "cmpl", "text": "Half an"}])
    stream = legacy_client.open_chat(chat(), REFRESH)
    with pytest.raises(errors.ProtocolError, match="ended before the answer was complete"):
        list(stream)
    stream.close()


def test_a_connection_cut_mid_answer_is_upstream_unavailable(legacy, legacy_client):
    legacy.events([{"event": "cmpl", "text": "Half an"}], finish=False)
    stream = legacy_client.open_chat(chat(), REFRESH)
    with pytest.raises(errors.UpstreamUnavailable, match="connection to Kimi was cut"):
        list(stream)
    stream.close()


def test_a_clean_close_after_done_counts_as_the_end(legacy, legacy_client):
    legacy.events([{"event": "cmpl", "text": "Short."}, {"event": "done"}])
    stream = legacy_client.open_chat(chat(), REFRESH)
    assert list(stream)[-1] == Finished("stop")
    stream.close()


def test_silence_mid_answer_is_a_timeout(legacy):
    client = LegacyClient(endpoints=Endpoints(legacy_base_url=legacy.url), models=MODELS, read_timeout=0.5)
    legacy.hold("Thinking hard")
    stream = client.open_chat(chat(), REFRESH)
    with pytest.raises(errors.UpstreamTimeout, match="stopped sending"):
        list(stream)
    stream.close()


def test_an_open_answer_is_watched_for_silence_instead_of_timing_each_read(legacy):
    # A socket timeout costs a gevent timer per read; the client's stall watch keeps the deadline instead.
    client = LegacyClient(endpoints=Endpoints(legacy_base_url=legacy.url), models=MODELS, read_timeout=5)
    legacy.events([{"event": "cmpl", "text": "Short."}, {"event": "done"}])
    stream = client.open_chat(chat(), REFRESH)
    assert [watched.sock.gettimeout() for watched in client.stalls._watched] == [None]
    assert text_of(stream) == "Short." and not client.stalls._watched
    stream.close()


def test_time_the_consumer_spends_elsewhere_is_not_silence(legacy):
    # As for Connect answers (tests/test_stall.py): a worker busy writing to a slow client is not
    # waiting for Kimi, so a pause of several deadlines between reads cuts nothing.
    client = LegacyClient(endpoints=Endpoints(legacy_base_url=legacy.url), models=MODELS, read_timeout=0.3)
    legacy.events([{"event": "cmpl", "text": word} for word in ("One ", "two ", "three.")] + [{"event": "done"}],
                  delay=0.05)
    stream = client.open_chat(chat(), REFRESH)
    texts = [next(event.text for event in stream if isinstance(event, TextDelta))]
    time.sleep(1.2)  # four deadlines and then some, with the watcher ticking every 75 ms
    texts += [event.text for event in stream if isinstance(event, TextDelta)]
    assert "".join(texts) == "One two three."
    stream.close()


def test_an_unreachable_kimi_is_upstream_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        client = LegacyClient(endpoints=Endpoints(legacy_base_url=f"http://127.0.0.1:{port}"), models=MODELS,
                              connect_timeout=2)
        with pytest.raises(errors.UpstreamUnavailable, match="could not be reached"):
            client.open_chat(chat(), REFRESH)


def test_a_failed_delete_is_logged_without_tokens_and_not_raised(legacy, legacy_client, caplog):
    stream = legacy_client.open_chat(chat(), REFRESH)
    list(stream)
    legacy.chats.clear()  # the chat is gone upstream: the delete answers 404
    with caplog.at_level(logging.WARNING, logger="kimi.legacy.client"):
        stream.close()
    assert f"could not delete temporary legacy chat {stream.chat_id}" in caplog.text
    assert REFRESH not in caplog.text and "Bearer" not in caplog.text and legacy.deleted_chats == []


def test_a_kept_chat_is_still_deleted_when_opening_fails(legacy, legacy_client):
    legacy.error("openai.completion.token_length_too_long")
    with pytest.raises(errors.BadRequest):
        legacy_client.open_chat(chat(), REFRESH, keep_chat=True)
    assert legacy.deleted_chats == legacy.created_chats and len(legacy.created_chats) == 1


def test_closing_mid_answer_releases_the_stream_and_deletes_the_chat(legacy, legacy_client):
    legacy.hold("Partial")
    stream = legacy_client.open_chat(chat(), REFRESH)
    assert [type(e).__name__ for e in (next(stream), next(stream), next(stream))] == \
        ["ChatStarted", "MessageStarted", "TextDelta"]
    stream.close()
    assert legacy.deleted_chats == [stream.chat_id]
