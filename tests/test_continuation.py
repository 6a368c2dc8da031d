"""gateway/continuation.py on both store backends: which histories continue a remembered answer, and which
fold into a new chat (an edit, a regenerated turn, other tools, another caller, an expired entry)."""
import time

import pytest

from gateway.continuation import ContinuationMap, history_mode, split_history
from gateway.conversations import ConversationMemory
from kimi.events import Attachment, Message, Tool, ToolCall
from gateway.store import FileStore
from gateway.store.redis import RedisStore

pytest_plugins = ["tests.support.auth_fixtures"]  # redis-server

CALLER = "own:abc"
TOOLS = [Tool("ls", "list files", {"type": "object"})]
ASKED = [Message("system", "Be brief."), Message("user", "Files?", (Attachment("https://a.example/x.png"),))]
CALL = ToolCall("call_1", "ls", '{"path": "."}')


@pytest.fixture(params=["file", "redis"])
def memory(request, tmp_path):
    """A ContinuationMap that has remembered ASKED answered "Let me look." with CALL in chat c-1 (message m-1)."""
    store = FileStore(tmp_path) if request.param == "file" else RedisStore(request.getfixturevalue("flushed_redis"))
    tips = ConversationMemory(store)
    tips.remember("c-1", "m-1")
    continuations = ContinuationMap(store, tips, ttl=60)
    continuations.remember(CALLER, ASKED, TOOLS, "Let me look.", (CALL,), "c-1", "m-1", "acct-1")
    yield continuations
    store.close()


def history(answer="Let me look.", calls=(ToolCall("toolu_x", "ls", '{ "path" : "." }'),), new=None):
    """ASKED, the answer as the caller kept it (its own call id and JSON spacing), then new turns."""
    return ASKED + [Message("assistant", answer, tool_calls=calls)] + (
        new or [Message("tool", "a.txt", tool_call_id="toolu_x"), Message("user", "And now?")])


def test_a_history_continuing_the_answer_finds_its_chat_and_parent(memory):
    entry = memory.find(CALLER, history(), TOOLS)
    assert (entry.chat_id, entry.message_id, entry.account) == ("c-1", "m-1", "acct-1")
    assert entry.expires_at > time.time() + 50


@pytest.mark.parametrize("answer", ["Let me look.\n\nSources:\n[1] Files — https://a.example",
                                    "<think>\nhm\n</think>\n\nLet me look.", "  Let me look.  "])
def test_appended_sources_think_elements_and_spacing_do_not_matter(memory, answer):
    assert memory.find(CALLER, history(answer=answer), TOOLS) is not None


@pytest.mark.parametrize("changed", [
    dict(answer="Let me look!"), dict(answer="Let me look. Also"), dict(calls=()),
    dict(calls=(ToolCall("c", "ls", '{"path": "/"}'),)),
    dict(new=[Message("system", "New rules."), Message("user", "And now?")]),
    dict(new=[Message("user", "x"), Message("assistant", "made up"), Message("user", "y")]),
])
def test_a_changed_answer_or_non_user_turns_after_it_do_not_continue(memory, changed):
    assert memory.find(CALLER, history(**changed), TOOLS) is None


def test_other_tools_another_caller_or_an_edited_question_do_not_continue(memory):
    assert memory.find(CALLER, history(), []) is None
    assert memory.find("key:other", history(), TOOLS) is None
    edited = [ASKED[0], Message("user", "Files?")] + history()[2:]  # the image is gone
    assert memory.find(CALLER, edited, TOOLS) is None


def test_an_answer_that_is_no_longer_its_chats_last_message_does_not_continue(memory):
    memory.tips.remember("c-1", "m-2")  # the turn was regenerated: Kimi's chat went on from elsewhere
    assert memory.find(CALLER, history(), TOOLS) is None


def test_an_entry_about_to_expire_is_not_used(tmp_path):
    store = FileStore(tmp_path)
    tips = ConversationMemory(store)
    tips.remember("c-1", "m-1")
    continuations = ContinuationMap(store, tips, ttl=60)
    continuations.remember(CALLER, ASKED, TOOLS, "Let me look.", (CALL,), "c-1", "m-1", "acct-1")
    continuations.margin = 61  # as if its chat could be deleted any moment now
    assert continuations.find(CALLER, history(), TOOLS) is None


@pytest.mark.parametrize("messages, split", [
    ([Message("user", "a")], None),
    ([Message("user", "a"), Message("assistant", "b")], None),
    ([Message("user", "a"), Message("assistant", "b"), Message("user", "c")], 1),
    ([Message("user", "a"), Message("assistant", "b"), Message("developer", "d"), Message("user", "c")], None),
])
def test_split_history_needs_an_assistant_turn_followed_only_by_user_or_tool_turns(messages, split):
    parts = split_history(messages)
    assert (len(parts[0]) if parts else None) == split  # split: how many turns come before the answer


@pytest.mark.parametrize("messages, mode", [
    ([Message("system", "s"), Message("user", "a")], "new"),
    ([Message("user", "a"), Message("user", "b")], "new"),
    ([Message("user", "a"), Message("assistant", "b"), Message("user", "c")], "folded"),
])
def test_history_mode_says_whether_earlier_turns_are_folded(messages, mode):
    assert history_mode(messages) == mode
