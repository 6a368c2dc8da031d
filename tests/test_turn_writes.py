"""What a turn remembers (the chat's owner, the reply id, the chat's last message, the continuation entry)
reaches the store in two writes: one before the first byte, one as the answer's Finished goes out. Counted
as SQLite commits in the value database's write-ahead log, so the file store's own transactions are seen."""
import struct
from pathlib import Path

import pytest

from gateway.store.file import VALUES_DATABASE

pytestmark = pytest.mark.app("served")
QUESTION = [{"role": "user", "content": "hello"}]


def commits(data_dir: Path) -> int:
    """Transactions committed to the value database's WAL since it was last reset (frames of the current
    salt whose header gives a database size: https://www.sqlite.org/fileformat.html#the_write_ahead_log)."""
    raw = (data_dir / (VALUES_DATABASE + "-wal")).read_bytes()
    page_size, salts = struct.unpack(">I", raw[8:12])[0], raw[16:24]
    found, offset = 0, 32
    while offset + 24 + page_size <= len(raw) and raw[offset + 8:offset + 16] == salts:
        found += struct.unpack(">I", raw[offset + 4:offset + 8])[0] != 0
        offset += 24 + page_size
    return found


def _ask(client, messages, **extra):
    answer = client.post("/v1/chat/completions", json={"model": "kimi-latest", "messages": messages, **extra})
    assert answer.status_code == 200
    return answer


@pytest.mark.parametrize("stream", [True, False])
def test_a_first_turn_remembers_in_two_writes(kimi, client, tmp_path, stream):
    _ask(client, QUESTION)  # the database and its WAL exist from here on
    before = commits(tmp_path / "data")
    _ask(client, [{"role": "user", "content": "and now?"}], stream=stream).get_data()
    assert commits(tmp_path / "data") - before == 2


def test_a_natively_continued_turn_remembers_in_two_writes(kimi, client, tmp_path):
    first = _ask(client, QUESTION)
    history = [*QUESTION, first.json["choices"][0]["message"], {"role": "user", "content": "and then?"}]
    before = commits(tmp_path / "data")
    second = _ask(client, history)
    assert second.headers["X-Kimi-Continuation"] == "native"
    assert commits(tmp_path / "data") - before == 2


def test_turns_by_conversation_id_after_a_stateless_turn_name_the_last_answer_as_parent(kimi, client):
    chat_id = _ask(client, QUESTION).headers["X-Conversation-Id"]
    _ask(client, [{"role": "user", "content": "second"}], conversation_id=chat_id)
    _ask(client, [{"role": "user", "content": "third"}], conversation_id=chat_id)
    turns = kimi.chats[chat_id]
    assert [turn["parent_id"] for turn in turns][1:] == [turns[0]["assistant_id"], turns[1]["assistant_id"]]
