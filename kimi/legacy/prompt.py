"""The single user message the legacy completion endpoint receives (docs/kimi-protocol.md B.7), folded the
way kimi-free-api did, improved: role labels on earlier turns, a short instruction to focus on the
newest message, and URLs in user text wrapped the way Kimi's web client sends them.
"""
from __future__ import annotations

import re
from typing import Optional

from kimi.events import Message, Tool
from kimi.prompt import SYSTEM_ROLES, newest_turns
from kimi.tools import describe_tools, render_message_text

FOCUS_NOTE = "Focus on the user's newest message below; the earlier turns are context."
FOCUS_NOTE_FILES = ("Focus on the user's newest message below and the files sent with it; "
                    "the earlier turns are context.")
# A URL ends at whitespace, markup quotes or full-width punctuation (CJK text runs on without
# spaces); trailing ASCII punctuation is usually the sentence's, not the URL's.
_URL = re.compile(r"""(?<!">)\bhttps?://[^\s<>"'`，。；！？、（）【】「」]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'"


def build_prompt(messages: list[Message], is_continuation: bool,
                 tools: Optional[list[Tool]] = None, tool_choice: str = "auto") -> str:
    """The prompt text. In a continued chat Kimi holds the history: only the newest turns go."""
    if is_continuation:
        return "\n\n".join(_text(m) for m in newest_turns(messages))
    if tools:  # the same fixed protocol as the Connect path (kimi/tools.py), as a system turn
        messages = [Message("system", describe_tools(tools, tool_choice))] + list(messages)
    newest = newest_turns(messages)
    newest_ids = {id(m) for m in newest}  # by identity: equal texts may repeat in a history
    earlier = [m for m in messages if id(m) not in newest_ids]
    if not earlier:
        return "\n\n".join(_text(m) for m in newest)
    lines = [_labelled(m) for m in earlier]
    if any(m.role not in SYSTEM_ROLES for m in earlier):
        has_files = any(m.attachments for m in newest)
        lines.append(f"system: {FOCUS_NOTE_FILES if has_files else FOCUS_NOTE}")
    lines.extend(_labelled(m) for m in newest)
    return "\n\n".join(lines)


def wrap_urls(text: str) -> str:
    """Every http(s) URL as `<url id="" type="url" status="" title="" wc="">URL</url>` (B.7: Kimi's
    parser expects the web client's markup)."""
    return _URL.sub(_wrap, text)


def _wrap(match: re.Match) -> str:
    url = stripped = match.group(0)
    while stripped[-1] in _TRAILING:
        if stripped[-1] == ")" and stripped.count("(") >= stripped.count(")"):
            break  # a balanced ")" belongs to the URL (https://en.wikipedia.org/wiki/Foo_(bar))
        stripped = stripped[:-1]
    tail = url[len(stripped):]
    return f'<url id="" type="url" status="" title="" wc="">{stripped}</url>{tail}'


def _text(message: Message) -> str:
    return wrap_urls(message.text) if message.role == "user" else render_message_text(message)


def _labelled(message: Message) -> str:
    role = "system" if message.role in SYSTEM_ROLES else message.role
    return f"{role}: {_text(message)}"
