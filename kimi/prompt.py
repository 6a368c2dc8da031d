"""What Kimi is actually sent: one user message, folded from the caller's history.

Kimi's web chat takes one new user message per request. A caller that keeps its own history
(every SDK and chat UI) sends the whole list, so without a conversation id the history is folded
into one prompt; with one, Kimi already holds the history and only the newest turns are sent.
"""
from __future__ import annotations

from typing import Optional

from kimi.events import Message, Tool
from kimi.tools import describe_tools, render_message_text

SYSTEM_ROLES = ("system", "developer")
ROLE_LABELS = {"user": "User", "assistant": "Assistant", "tool": "Tool result"}

SYSTEM_HEADER = "[System instructions]"
HISTORY_HEADER = "[Conversation so far]"
NEWEST_HEADER = "[Newest message from the user — answer this one]"


def build_prompt(messages: list[Message], is_continuation: bool,
                 tools: Optional[list[Tool]] = None, tool_choice: str = "auto") -> str:
    """The text of the single user message Kimi receives."""
    if is_continuation:
        return "\n\n".join(_newest_text(m) for m in newest_turns(messages))
    return fold_messages(messages, tools, tool_choice)


def newest_turns(messages: list[Message]) -> list[Message]:
    """The trailing non-assistant turns: what the caller added since Kimi's last answer."""
    turns = [m for m in messages if m.role not in SYSTEM_ROLES]
    start = len(turns)
    while start > 0 and turns[start - 1].role != "assistant":
        start -= 1
    return turns[start:] or turns[-1:]


def fold_messages(messages: list[Message], tools: Optional[list[Tool]] = None,
                  tool_choice: str = "auto") -> str:
    """System prompt (and tools) first, earlier turns with role labels, the newest turn last."""
    system = [m.text for m in messages if m.role in SYSTEM_ROLES]
    if tools:
        system.append(describe_tools(tools, tool_choice))
    turns = [m for m in messages if m.role not in SYSTEM_ROLES]
    if not turns:  # only instructions: they are the whole request
        return "\n\n".join(system)
    newest = newest_turns(turns)
    history = turns[:len(turns) - len(newest)]
    if not system and not history:
        return "\n\n".join(_newest_text(m) for m in newest)
    sections = []
    if system:
        sections.append(SYSTEM_HEADER + "\n" + "\n\n".join(system))
    if history:
        sections.append(HISTORY_HEADER + "\n" + "\n\n".join(_labelled(m) for m in history))
    sections.append(NEWEST_HEADER + "\n" + "\n\n".join(_newest_text(m) for m in newest))
    return "\n\n".join(sections)


def _labelled(message: Message) -> str:
    label = ROLE_LABELS.get(message.role, message.role.capitalize())
    return f"{label}: {render_message_text(message)}"


def _newest_text(message: Message) -> str:
    # A plain user turn reads as itself; tool results and other roles keep their label.
    return message.text if message.role == "user" else _labelled(message)
