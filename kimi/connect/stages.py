"""Which text of a 2026 answer is reasoning (docs/kimi-protocol.md D.4): text flagged `thinking`, and text
set under an open thinking stage (`block.multiStage` / `block.stage`). Pure: used by kimi/connect/parse.py.
"""
from __future__ import annotations

from typing import Optional

THINKING_STAGE = "STAGE_NAME_THINKING"
# STAGE_STATUS_END is the only end seen; the rest are other clients' guesses, lowercase included (D.4).
STAGE_ENDS = ("END", "DONE", "FINISHED", "COMPLETED", "CANCELLED")


class ThinkingStages:
    """The thinking stages open in one stream, and the text blocks that carry reasoning."""

    def __init__(self):
        self.open_ids: set[str] = set()  # blocks of an open thinking stage: text set under them is reasoning
        self.text_ids: set[str] = set()  # ids of text blocks that carry reasoning

    def on_multi_stage(self, block: dict) -> None:
        """`block.multiStage`: a thinking stage opens (STAGE_STATUS_START) or ends."""
        for stage in (block.get("multiStage") or {}).get("stages") or ():
            if stage.get("name") == THINKING_STAGE:
                self._mark(block.get("id"), stage.get("status"))

    def on_stage(self, block: dict) -> None:
        """`block.stage`: one stage block inside the multiStage; a thinking one holds reasoning."""
        stage = block.get("stage") or {}
        if stage.get("name") == THINKING_STAGE:
            self._mark(block.get("id"), stage.get("status"))

    def is_thinking_text(self, block: dict, text: dict) -> bool:
        """Whether this text frame is reasoning: a frame's own flag wins; a frame without one follows what
        its block was, or its parent when that is an open thinking stage."""
        block_id = block.get("id", "")
        flags = text.get("flags")
        if flags is None:
            is_thinking = block_id in self.text_ids or block.get("parentId") in self.open_ids
        else:
            is_thinking = flags == "thinking"
        if is_thinking:
            self.text_ids.add(block_id)
        else:
            self.text_ids.discard(block_id)
        return is_thinking

    def _mark(self, block_id: Optional[str], status: Optional[str]) -> None:
        if isinstance(status, str) and status.upper().endswith(STAGE_ENDS):
            self.open_ids.clear()  # the thinking is over: text that follows is the answer
        elif block_id:  # without an id nothing can name it as parent ("" is the answer's own parent)
            self.open_ids.add(block_id)
