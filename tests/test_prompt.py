from kimi.events import Message
from kimi.prompt import build_prompt, fold_messages


def m(role, text):
    return Message(role=role, text=text)


def test_single_user_message_is_sent_as_is():
    assert fold_messages([m("user", "Hello")]) == "Hello"


def test_system_prompt_comes_first_then_the_newest_turn():
    assert fold_messages([m("system", "Be brief."), m("user", "Hi")]) == (
        "[System instructions]\nBe brief.\n\n"
        "[Newest message from the user — answer this one]\nHi")


def test_history_is_folded_with_role_labels_and_the_newest_turn_last():
    messages = [m("system", "Be brief."), m("user", "Name a colour."), m("assistant", "Blue."),
                m("user", "Another one?")]
    assert fold_messages(messages) == (
        "[System instructions]\nBe brief.\n\n"
        "[Conversation so far]\nUser: Name a colour.\n\nAssistant: Blue.\n\n"
        "[Newest message from the user — answer this one]\nAnother one?")


def test_consecutive_trailing_user_turns_are_all_newest():
    messages = [m("user", "a"), m("assistant", "b"), m("user", "c"), m("user", "d")]
    assert fold_messages(messages).endswith("answer this one]\nc\n\nd")
    assert "User: a\n\nAssistant: b" in fold_messages(messages)


def test_developer_role_counts_as_system_and_unknown_roles_keep_their_label():
    messages = [m("developer", "Rules."), m("user", "q"), m("tool", "42"), m("assistant", "ok"), m("user", "next")]
    folded = fold_messages(messages)
    assert folded.startswith("[System instructions]\nRules.")
    assert "Tool result: 42" in folded


def test_only_system_messages_become_the_prompt():
    assert fold_messages([m("system", "Say hi.")]) == "Say hi."


def test_continuation_sends_only_the_turns_after_the_last_answer():
    messages = [m("system", "Be brief."), m("user", "first"), m("assistant", "answer"), m("user", "second")]
    assert build_prompt(messages, is_continuation=True) == "second"


def test_continuation_with_a_single_message_sends_it():
    assert build_prompt([m("user", "only")], is_continuation=True) == "only"


def test_tools_join_the_system_instructions_and_calls_appear_in_history():
    from kimi.events import Tool, ToolCall
    call = ToolCall("call_1", "read_file", '{"path": "a"}')
    messages = [m("user", "Read a"), Message("assistant", "", tool_calls=(call,)),
                Message("tool", "hello", tool_call_id="call_1", name="read_file")]
    folded = fold_messages(messages, [Tool("read_file", "Read a file")], "auto")
    assert folded.startswith("[System instructions]\n[Tools]\n")
    assert ('[Conversation so far]\nUser: Read a\n\nAssistant: <tool_call>{"name": "read_file", '
            '"arguments": {"path": "a"}}</tool_call>') in folded
    assert folded.endswith("answer this one]\nTool result: [read_file (call call_1)] hello")


def test_continuation_sends_tool_results_with_their_label():
    messages = [m("user", "q"), m("assistant", "calling"), Message("tool", "42", tool_call_id="c1")]
    assert build_prompt(messages, is_continuation=True) == "Tool result: [(call c1)] 42"
