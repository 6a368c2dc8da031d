"""One entry point for both ways into Kimi: a kimi-auth access JWT takes the Connect RPC client,
anything else (a refresh token of kimi.moonshot.cn) the legacy REST client (docs/kimi-protocol.md A.2).
"""
from __future__ import annotations

import logging
from typing import Union

from kimi import tokens
from kimi.connect.client import ChatStream, KimiClient
from kimi.events import ChatRequest
from kimi.legacy.client import LegacyClient
from kimi.legacy.stream import LegacyChatStream

log = logging.getLogger(__name__)


class UpstreamRouter:
    """Chooses the path per token; both paths yield the same neutral event stream."""

    def __init__(self, connect: KimiClient, legacy: LegacyClient):
        self.connect = connect
        self.legacy = legacy
        self.models = connect.models

    def open_chat(self, chat: ChatRequest, token: str) -> Union[ChatStream, LegacyChatStream]:
        path = "connect" if is_connect_token(token) else "legacy"
        log.info("chat for %s goes by the %s path", tokens.describe(token), path)
        if path == "connect":
            return self.connect.open_chat(chat, token)
        return self.legacy.open_chat(chat, token, keep_chat=chat.keep_conversation)


def is_connect_token(token: str) -> bool:
    """A kimi-auth access JWT (expired or not: the Connect client explains an expired one)."""
    return tokens.is_access_jwt(tokens.read_claims(token))
