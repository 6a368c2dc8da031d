"""Frames of a scripted Kimi answer for `kimi.frames(...)`: any text (a `<tool_call>` element, say),
cut into small pieces, with its own chat id, so a test can make Kimi say exactly what it needs."""
from __future__ import annotations

import itertools
import uuid
from typing import Optional, Union


def answer(text: Union[str, list[str]], thinking: Optional[str] = None, chat_id: Optional[str] = None,
           piece: int = 9) -> list[tuple[int, dict]]:
    """The frames of a new chat answering `text` (a string is cut every `piece` characters, so a tag
    lands across frames), after `thinking` when given, in the frame order of docs/kimi-protocol.md A.6."""
    chat_id = chat_id or str(uuid.uuid4())
    user_id, assistant_id = str(uuid.uuid4()), str(uuid.uuid4())
    offsets = itertools.count(1)

    def patch(op, mask, **container):
        return (0, {"op": op, "mask": mask, "eventOffset": next(offsets), **container})

    def block(kind, block_id, pieces):
        yield patch("set", f"block.{kind}", block={"id": block_id, "parentId": "", "messageId": assistant_id,
                                                   kind: {"content": pieces[0]}})
        for more in pieces[1:]:
            yield patch("append", f"block.{kind}.content", block={"id": block_id, kind: {"content": more}})

    pieces = ([text[i:i + piece] for i in range(0, len(text), piece)] or [""]) if isinstance(text, str) else text
    frames = [(0, {"heartbeat": {}}),
              patch("set", "chat", chat={"id": chat_id, "name": "Untitled Chat", "createTime": "2026-03-14T11:15:30Z"}),
              patch("set", "message", message={"id": user_id, "parentId": "", "role": "user",
                                               "status": "MESSAGE_STATUS_COMPLETED"}),
              patch("set", "message", message={"id": assistant_id, "parentId": user_id, "role": "assistant",
                                               "status": "MESSAGE_STATUS_GENERATING"})]
    if thinking:
        frames += block("think", "1_0", [thinking])
    frames += block("text", "1_1" if thinking else "1_0", pieces)
    frames += [patch("set", "message.status", message={"id": assistant_id, "role": "assistant",
                                                       "status": "MESSAGE_STATUS_COMPLETED"}),
               (0, {"done": {}}), (2, {})]
    return frames
