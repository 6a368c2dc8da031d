"""The format-neutral chat request and the events a Kimi reply becomes.

Every API blueprint parses its body into a ChatRequest and renders these events; nothing here
knows about Flask, HTTP or any one wire format.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional, Protocol, Union


@dataclass(frozen=True)
class Attachment:
    """An image or file the caller sent: an http(s) URL or a base64 `data:` URI, not yet fetched."""

    url: str
    kind: str = "image"  # "image" or "file"
    name: str = ""


@dataclass(frozen=True)
class Tool:
    """A function the caller offers; Kimi is told about it in the prompt (kimi/tools.py)."""

    name: str
    description: str = ""
    parameters: Optional[dict] = None  # JSON schema of the arguments object


@dataclass(frozen=True)
class ToolCall:
    """A call of an offered tool: in a reply (recognised in Kimi's text) or in replayed history."""

    call_id: str
    name: str
    arguments: str  # a JSON object, as text (what every API carries)


@dataclass(frozen=True)
class Message:
    """One turn of a conversation, reduced to plain text plus its attachments and tool traffic."""

    role: str  # "system", "user", "assistant", "tool" (other roles are folded with their own label)
    text: str
    attachments: tuple[Attachment, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()  # assistant turns that called tools
    tool_call_id: str = ""  # tool turns: the call this result answers
    name: str = ""  # tool turns: the tool's name, when the API says it


@dataclass(frozen=True)
class ChatRequest:
    """What a caller asked for, in no API's words. Frozen: what a format parsed is what every later
    step sees; a step that sends something else (another model, a remembered chat) makes a copy."""

    model: str  # the model id exactly as the caller sent it (echoed back in replies)
    messages: list[Message]
    stream: bool = False
    conversation_id: Optional[str] = None  # continue this Kimi chat instead of folding history
    parent_id: Optional[str] = None  # the message of that chat to answer after (None: its last one)
    keep_conversation: bool = False  # the caller will continue this chat: never delete it
    thinking: Optional[bool] = None  # None: the model's default
    # "none", "low", "medium", "high" or "max" (each format maps its own field); None: the model's default
    reasoning_effort: Optional[str] = None
    search: Optional[bool] = None  # None: the model's default
    include_usage: bool = False
    max_tokens: Optional[int] = None
    stop: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    # "auto", "none", "required", or the name of the one tool that must be called.
    tool_choice: str = "auto"

    @property
    def newest_attachments(self) -> tuple[Attachment, ...]:
        """The newest user message's attachments: the ones a turn fetches and uploads (earlier ones were
        answered already, or are described in the folded history)."""
        last = next((message for message in reversed(self.messages) if message.role == "user"), None)
        return last.attachments if last else ()


@dataclass(frozen=True)
class ChatStarted:
    """Kimi named the chat that holds this exchange (new or continued)."""

    chat_id: str


@dataclass(frozen=True)
class MessageStarted:
    """Kimi created the assistant message; its id is the parent of the next user turn."""

    message_id: str


@dataclass(frozen=True)
class ThinkingDelta:
    text: str
    # A line about Kimi's own tool use (kimi/connect/progress.py) rather than reasoning; a format that
    # shows the tool use its own way leaves it out unless thinking was asked for.
    is_progress: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Source:
    """One web source Kimi consulted; `ref_id` is what `[^N^]` markers in the text point at."""

    ref_id: str
    url: str
    title: str = ""
    site_name: str = ""
    snippet: str = ""


@dataclass(frozen=True)
class WebSearch:
    """Kimi searched the web during the answer (its own tool, A.9); the results follow as Citations."""

    call_id: str
    queries: tuple[str, ...]


@dataclass(frozen=True)
class Citations:
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Finished:
    """The answer is complete: `reason` is "stop", "length", "stop_sequence" (then `stop_sequence`
    names it) or "tool_calls"."""

    reason: str = "stop"
    stop_sequence: Optional[str] = None


@dataclass(frozen=True)
class UpstreamError:
    """Kimi reported a failure inside the stream (a Connect error object)."""

    code: str
    reason: str = ""
    message: str = ""
    is_paywall: bool = False
    retry_delay: Optional[int] = None  # seconds Kimi asked to wait (a RetryInfo detail), when it said


Event = Union[ChatStarted, MessageStarted, ThinkingDelta, TextDelta, WebSearch, Citations, ToolCall, Finished,
              UpstreamError]

# Events that carry answer content: the first of these (or an error) ends the pre-stream peek.
CONTENT_EVENTS = (ThinkingDelta, TextDelta)


class AnswerStream(Protocol):
    """What an open Kimi answer offers, whichever path (Connect or legacy) it came by: its events as
    they arrive, what Kimi said about the chat, and close(), which releases the upstream connection."""

    chat_id: Optional[str]  # the Kimi chat holding this exchange, once Kimi named it
    message_id: Optional[str]  # the assistant message, the parent of the next turn (None: not told)
    prompt_tokens: int  # an estimate of what was sent
    model_id: str  # the model table entry Kimi was asked for ("" where the path has no table entry)

    @property
    def has_pending(self) -> bool:
        """Whether the next event is already read (a renderer may wait to write until it is not)."""

    @property
    def unknown_kinds(self) -> set[str]:
        """Upstream frame kinds the parser did not know."""

    def __iter__(self) -> Iterator[Event]: ...

    def __next__(self) -> Event: ...

    def close(self) -> None: ...
