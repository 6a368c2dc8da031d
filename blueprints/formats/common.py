"""Small pieces every format shares: which tools Kimi is offered for a tool choice, attachments from
inline data, content arrays read part by part, arguments as objects, optional fields checked by type,
the one pass over a reply's events that streams and whole answers are built from, and the error a
stream ends with when rendering itself fails. Pure: standard library, kimi.events and kimi.errors only.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterator, Optional, TypeVar, Union

import orjson

from blueprints.formats import citations
from kimi.errors import BadRequest, KimiError
from kimi.events import (AnswerStream, Attachment, Citations, Event, Finished, Source, TextDelta, ThinkingDelta, Tool,
                         ToolCall, WebSearch)
from kimi.usage import TokenCounter

CHOICES = ("auto", "none", "required")


def choose_tools(tools: list[Tool], choice: str, param: str) -> tuple[list[Tool], str]:
    """The tools Kimi is offered and the choice it is told.

    `none` offers no tools at all: the recogniser would turn any call Kimi still wrote into a call,
    so the only sure way to honour `none` is not to look for calls (history still shows earlier ones).
    """
    if choice not in CHOICES and choice not in {tool.name for tool in tools}:
        raise BadRequest(f"`{param}` names the tool `{choice}`, which is not among the tools offered.",
                         param=param)
    return ([], choice) if choice == "none" else (tools, choice)


def data_uri(media_type: str, data: str) -> str:
    """A `data:` URI for base64 data, as the upload step reads it."""
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


def attachment_kind(media_type: str) -> str:
    return "image" if media_type.startswith("image/") else "file"


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")


def inline_attachment(url: str, name: str = "") -> Attachment:
    """An Attachment for a URL or data URI, an image when its media type (or extension) says so."""
    if url.startswith("data:"):
        kind = attachment_kind(url[5:].split(";", 1)[0])
    else:
        kind = "image" if url.lower().rsplit("?", 1)[0].endswith(IMAGE_SUFFIXES) else "file"
    return Attachment(url=url, kind=kind, name=name)


# Reads one content part (an object with a string `type`, named `param` in errors): its text, its
# attachment, or None for a part Kimi cannot use.
PartParser = Callable[[dict, str], Union[str, Attachment, None]]


def parse_content_parts(content: Any, param: str, parse_part: PartParser) -> tuple[str, tuple[Attachment, ...]]:
    """Text (its parts joined by newlines) and attachments of a content field: a string, null, or an
    array of typed parts, each read by the format's own `parse_part`."""
    if content is None or isinstance(content, str):
        return content or "", ()
    if not isinstance(content, list):
        raise BadRequest(f"`{param}` must be a string or an array of content parts.", param=param)
    texts, attachments = [], []
    for i, part in enumerate(content):
        part_param = f"{param}[{i}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise BadRequest(f"`{part_param}` must be an object with a `type`.", param=part_param)
        piece = parse_part(part, part_param)
        if isinstance(piece, str):
            texts.append(piece)
        elif piece is not None:
            attachments.append(piece)
    return "\n".join(texts), tuple(attachments)


def part_text(part: dict, key: str, param: str) -> str:
    """A text part's string (under `key`); BadRequest naming `<param>.text` when it is not one."""
    text = part.get(key)
    if not isinstance(text, str):
        raise BadRequest(f"`{param}.text` must be a string.", param=f"{param}.text")
    return text


def arguments_object(call: ToolCall) -> dict[str, Any]:
    """A call's arguments as an object (Anthropic's `input`, Gemini's `args`); recognised calls always
    carry an object, replayed history might not."""
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# Real bodies nest a dozen levels (a tool's JSON schema included); deeper ones only cost the recursive
# code after parsing (schemas, tool arguments; orjson's own writer stops at 255 levels).
MAX_JSON_DEPTH = 100


def nests_deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` holds objects or arrays more than `limit` levels deep (a loop, not recursion:
    the depth is what is being checked)."""
    level, containers = 0, [value]
    while containers:
        level += 1
        if level > limit:
            return True
        children = []
        for container in containers:
            if isinstance(container, dict):
                children.extend(child for child in container.values() if isinstance(child, (dict, list)))
            elif isinstance(container, list):
                children.extend(child for child in container if isinstance(child, (dict, list)))
        containers = children
    return False


def arguments_text(value: Any, param: str) -> str:
    """Arguments as JSON text from a string (OpenAI's shape) or an object (everyone else's)."""
    if value is None:
        return "{}"
    if isinstance(value, str):
        _refuse_deep_arguments(value, param)
        return value
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    raise BadRequest(f"`{param}` must be a JSON object or a string of one.", param=param)


def _refuse_deep_arguments(text: str, param: str) -> None:
    """BadRequest for arguments text nesting deeper than MAX_JSON_DEPTH (text that is not JSON stays text)."""
    if text.count("{") + text.count("[") <= MAX_JSON_DEPTH:  # cannot nest deeper: the common case, no parse
        return
    try:
        too_deep = nests_deeper_than(orjson.loads(text), MAX_JSON_DEPTH)
    except orjson.JSONDecodeError as exc:
        too_deep = "depth limit" in str(exc)  # orjson stops at 1024 levels; other text that is not JSON stays text
    if too_deep:
        raise BadRequest(f"`{param}` nests more than {MAX_JSON_DEPTH} levels deep.", param=param)


def short_id(call_id: str) -> str:
    """The unique part of a call id (`call_<hex>` -> `<hex>`), to wear another API's prefix."""
    return call_id.split("_", 1)[1] if call_id.startswith("call_") else call_id


# A thinking budget in tokens (Anthropic budget_tokens, Gemini thinkingBudget) as a neutral effort: up to
# the first limit "low", up to the second "high", above it "max"; 0 is "none" (README, "Reasoning effort").
BUDGET_LEVELS = ((4096, "low"), (16384, "high"))


def effort_for_budget(budget: Optional[int]) -> Optional[str]:
    """The neutral effort ("none" ... "max") a thinking budget asks for; None: no budget (the model's default)."""
    if budget is None or budget < 0:  # Gemini's -1 is "dynamic": the model decides
        return None
    if budget == 0:
        return "none"
    return next((level for limit, level in BUDGET_LEVELS if budget <= limit), "max")


def optional_field(body: dict, key: str, kind: type) -> Any:
    """body[key] when it is a `kind`, None when it is absent or null; BadRequest naming `key` otherwise."""
    value = body.get(key)
    if value is None:
        return None
    # bool is an int in Python; a JSON `true` is never a valid max_tokens.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"`{key}` must be of type {kind.__name__}.", param=key)
    return value


def positive_count(value: Optional[int], param: str) -> Optional[int]:
    """`value` (an int or None) when it is at least 1; the real APIs answer 400 to a zero or negative
    token limit or candidate count, and so do we (BadRequest naming `param`)."""
    if value is not None and value < 1:
        raise BadRequest(f"Invalid `{param}`: integer below minimum value. Expected a value >= 1, "
                         f"but got {value} instead.", param=param, code="integer_below_min_value")
    return value


def optional_count(body: dict, key: str) -> Optional[int]:
    """body[key] as a count of at least 1, None when absent; BadRequest naming `key` otherwise."""
    return positive_count(optional_field(body, key, int), key)


def optional_text(obj: dict, key: str, param: str) -> Optional[str]:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"`{param}` must be a string.", param=param)
    return value


def message_role(message: Any, param: str, roles: tuple[str, ...]) -> str:
    """The `role` of a history message (an object named `param` in errors), one of `roles`."""
    if not isinstance(message, dict):
        raise BadRequest(f"`{param}` must be an object.", param=param)
    role = message.get("role")
    if role not in roles:
        raise BadRequest(f"`{param}.role` must be one of {', '.join(roles)}.", param=f"{param}.role")
    return role


def required_name(obj: Any, param: str) -> str:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
        raise BadRequest(f"`{param}.name` is required and must be a non-empty string.", param=f"{param}.name")
    return obj["name"]


# A stream that already began cannot change its status: a crash while rendering becomes the
# format's in-stream error, after being logged once where it was caught.
STREAM_FAILURE = KimiError("The gateway failed while streaming this answer; the error has been logged.",
                           code="internal_error")


def stream_error(exc: Exception, log: logging.Logger, stream_name: str) -> KimiError:
    """The error a stream that already began ends with: Kimi's own, or STREAM_FAILURE for a crash of
    ours, logged here once (call it inside the `except` block, where the traceback is)."""
    if isinstance(exc, KimiError):
        return exc
    log.exception("rendering a %s stream failed after it began", stream_name)
    return STREAM_FAILURE


Rendered = Optional[bytes]  # a stream's bytes for one piece (b"" for none); None from a Transcript


class Answer:
    """One pass over a reply's neutral events, the single loop body of every format's stream and
    whole answer.

    `feed` keeps what every format reports at the end (how the answer finished, the web sources,
    token counts) and hands each piece of content to the subclass's renderers: a stream's return
    the bytes to write, a Transcript keeps the pieces. A new event type is taught here once.
    """

    # Provided by each subclass: methods, or a template's own `render` set per instance (which
    # saves a call per delta on the streaming hot path).
    render_text: Callable[[str], Rendered]
    render_thinking: Callable[[str], Rendered]
    render_call: Callable[[ToolCall], Rendered]

    def __init__(self, is_thinking_counted_apart: bool = False, shows_progress: bool = True):
        self.finished = Finished()  # a plain "stop" until Kimi says otherwise
        # Lines about Kimi's own tool use are thinking, unless the format shows that use its own way.
        self.shows_progress = shows_progress
        self.is_finished = False
        self.sources: list[Source] = []
        self.text_tokens = TokenCounter()  # the text and the calls' arguments
        # Gemini and Responses report thinking tokens on their own; the others count them as output.
        self.thinking_tokens = TokenCounter() if is_thinking_counted_apart else self.text_tokens

    def feed(self, event: Event) -> Rendered:
        """What `event` becomes on the wire (b"" for nothing), its bookkeeping done."""
        kind = type(event)  # exact types, the most frequent first: this runs once per upstream delta
        if kind is TextDelta:
            text = event.text
            self.text_tokens.add(text)
            return self.render_text(text)
        if kind is ThinkingDelta:
            if event.is_progress and not self.shows_progress:
                return b""
            self.thinking_tokens.add(event.text)
            return self.render_thinking(event.text)
        if kind is ToolCall:
            self.text_tokens.add(event.arguments)
            return self.render_call(event)
        if kind is Citations:
            known = len(self.sources)
            citations.unique(self.sources, event.sources)
            return self.render_sources(self.sources[known:])
        if kind is WebSearch:
            return self.render_search(event)
        if kind is Finished:
            self.finished, self.is_finished = event, True
        # ChatStarted and MessageStarted: the events object carries what they say; the chat stream
        # raises an UpstreamError as a KimiError before it could get here.
        return b""

    # Kimi's web search and the sources it found: most formats list the sources at the end (and
    # show the search as a progress line of thinking); Anthropic's has blocks for both.
    def render_search(self, search: WebSearch) -> Rendered:
        return b""

    def render_sources(self, sources: list[Source]) -> Rendered:
        return b""


class Transcript(Answer):
    """A whole answer kept as it came: every thinking piece, and the text and calls in their order."""

    def __init__(self, is_thinking_counted_apart: bool = False, shows_progress: bool = True):
        super().__init__(is_thinking_counted_apart, shows_progress)
        self.thoughts: list[str] = []
        # Runs of text (their pieces, none empty) and the calls between them, in order.
        self.content: list[Union[list[str], ToolCall]] = []

    def render_text(self, text: str) -> None:
        if not text:
            return  # opens no run: Anthropic would show it as an empty block
        if self.content and isinstance(self.content[-1], list):
            self.content[-1].append(text)
        else:
            self.content.append([text])

    def render_thinking(self, text: str) -> None:
        self.thoughts.append(text)

    def render_call(self, call: ToolCall) -> None:
        self.content.append(call)

    def text(self) -> str:
        return "".join(piece for item in self.content if isinstance(item, list) for piece in item)

    def thinking(self) -> str:
        return "".join(self.thoughts)

    def calls(self) -> list[ToolCall]:
        return [item for item in self.content if isinstance(item, ToolCall)]


AnyAnswer = TypeVar("AnyAnswer", bound=Answer)


def fold_events(events, answer: AnyAnswer) -> AnyAnswer:
    """`answer` fed every event, for a whole answer; the events are closed however the loop ends."""
    try:
        for event in events:
            answer.feed(event)
    finally:
        events.close()
    return answer


def stream_by_reads(events: AnswerStream, answer: Answer, opening: bytes, closing: Callable[[], bytes],
                    failing: Callable[[Exception], bytes]) -> Iterator[bytes]:
    """`opening`, what `answer` renders of each event, then `closing()` (or `failing(exc)` once the
    stream broke), the events of one upstream read in one write.

    gunicorn sends each yield on its own, so the pieces of one read leave together; nothing waits
    for more: a read is written as soon as it is rendered. Once the answer finished, the rest
    leaves with the closing in the last write.
    """
    out = [opening]
    # The Connect stream says when the events of one read run out; the legacy one always says none
    # is pending, so it is written per event.
    feed = answer.feed  # looked up once: this loop runs once per upstream delta
    try:
        for event in events:
            out.append(feed(event))
            if not answer.is_finished and not events.has_pending:
                written, out = b"".join(out), []
                if written:  # an empty write would end a chunked response early
                    yield written
        out.append(closing())
    except Exception as exc:
        out.append(failing(exc))
    finally:
        events.close()
    yield b"".join(out)
