"""Small pieces every format shares: which tools Kimi is offered for a tool choice, attachments from
inline data, content arrays read part by part, arguments as objects, optional fields checked by type,
and the error a stream ends with when rendering itself fails. Pure: standard library, kimi.events and
kimi.errors only.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Optional, Union

from kimi.errors import BadRequest, KimiError
from kimi.events import Attachment, Tool, ToolCall

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


def arguments_text(value: Any, param: str) -> str:
    """Arguments as JSON text from a string (OpenAI's shape) or an object (everyone else's)."""
    if value is None:
        return "{}"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    raise BadRequest(f"`{param}` must be a JSON object or a string of one.", param=param)


def short_id(call_id: str) -> str:
    """The unique part of a call id (`call_<hex>` -> `<hex>`), to wear another API's prefix."""
    return call_id.split("_", 1)[1] if call_id.startswith("call_") else call_id


def optional_field(body: dict, key: str, kind: type) -> Any:
    """body[key] when it is a `kind`, None when it is absent or null; BadRequest naming `key` otherwise."""
    value = body.get(key)
    if value is None:
        return None
    # bool is an int in Python; a JSON `true` is never a valid max_tokens.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"`{key}` must be of type {kind.__name__}.", param=key)
    return value


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
