"""Legacy history folding (kimi/legacy/prompt.py, docs/kimi-protocol.md B.7)."""
import pytest

from kimi.events import Attachment, Message
from kimi.legacy.prompt import FOCUS_NOTE, FOCUS_NOTE_FILES, build_prompt, wrap_urls

WRAP = '<url id="" type="url" status="" title="" wc="">{}</url>'


def test_a_single_message_is_sent_as_it_is():
    assert build_prompt([Message("user", "Hello")], is_continuation=False) == "Hello"


def test_history_gets_role_labels_and_a_focus_note_before_the_newest_turn():
    messages = [Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello!"),
                Message("user", "Name a colour.")]
    assert build_prompt(messages, is_continuation=False) == (
        "system: Be brief.\n\nuser: Hi\n\nassistant: Hello!\n\n"
        f"system: {FOCUS_NOTE}\n\nuser: Name a colour.")


def test_the_focus_note_mentions_files_when_the_newest_turn_has_some():
    messages = [Message("user", "Hi"), Message("assistant", "Hello!"),
                Message("user", "What is in it?", (Attachment("data:image/png;base64,AA=="),))]
    assert f"system: {FOCUS_NOTE_FILES}\n\nuser: What is in it?" in build_prompt(messages, False)


def test_a_system_prompt_alone_needs_no_focus_note():
    messages = [Message("system", "Answer in French."), Message("user", "Hi")]
    assert build_prompt(messages, is_continuation=False) == "system: Answer in French.\n\nuser: Hi"


def test_repeated_texts_in_history_are_all_kept():
    messages = [Message("user", "Again"), Message("assistant", "Ok"), Message("user", "Again")]
    assert build_prompt(messages, False).count("user: Again") == 2


def test_a_continued_chat_sends_only_the_newest_turns():
    messages = [Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "More"),
                Message("user", "And https://a.example/x")]
    assert build_prompt(messages, is_continuation=True) == "More\n\nAnd " + WRAP.format("https://a.example/x")


@pytest.mark.parametrize("text, expected", [
    ("see https://a.example/page.", "see " + WRAP.format("https://a.example/page") + "."),
    ("(http://b.example/q?x=1&y=2)", "(" + WRAP.format("http://b.example/q?x=1&y=2") + ")"),
    ("链接：https://c.example/中文，好", "链接：" + WRAP.format("https://c.example/中文") + "，好"),
    ("https://w.example/wiki/Foo_(bar).", WRAP.format("https://w.example/wiki/Foo_(bar)") + "."),
    ("no links here", "no links here"),
])
def test_urls_in_user_text_are_wrapped_like_the_web_client_does(text, expected):
    assert wrap_urls(text) == expected


def test_wrapping_twice_changes_nothing():
    once = wrap_urls("x https://a.example y")
    assert wrap_urls(once) == once


def test_only_user_text_is_wrapped():
    messages = [Message("user", "https://u.example"), Message("assistant", "https://a.example"),
                Message("user", "ok")]
    folded = build_prompt(messages, False)
    assert WRAP.format("https://u.example") in folded and "assistant: https://a.example\n" in folded
