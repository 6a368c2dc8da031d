"""One entry point for both ways into Kimi: the Connect RPC client for a kimi-auth access JWT, the
legacy REST client for anything else; tokens.Credential says which (docs/kimi-protocol.md A.2).
"""
from __future__ import annotations

import logging
from typing import Optional

from kimi import tokens
from kimi.connect.client import KimiClient
from kimi.events import AnswerStream, ChatRequest
from kimi.legacy.client import LegacyClient
from kimi.models import ModelSpec

log = logging.getLogger(__name__)


class UpstreamRouter:
    """Chooses the path per credential; both paths yield the same neutral event stream."""

    def __init__(self, connect: KimiClient, legacy: LegacyClient):
        self.connect = connect
        self.legacy = legacy
        self.models = connect.models

    def open_chat(self, chat: ChatRequest, credential: tokens.Credential,
                  model: Optional[ModelSpec] = None) -> AnswerStream:
        """`model`: the account's catalogue entry for chat.model (Connect only; the legacy path has its own)."""
        is_connect = credential.is_connect
        # At DEBUG: a line per request costs a worker ~5 % of a short answer's CPU (bench/), and the
        # path follows from the token's kind, which the caller chose.
        log.debug("chat for %s goes by the %s path", credential.name, "connect" if is_connect else "legacy")
        if is_connect:
            return self.connect.open_chat(chat, credential.token, credential.claims, credential.device_id, model)
        return self.legacy.open_chat(chat, credential.token, keep_chat=chat.keep_conversation)
