"""Responses API objects the gateway keeps, per caller and for a retention the settings choose: each
response (unless the caller sent `store: false`), its input items, and every item by id, so a later
request may name an item (`item_reference`) or a response (`previous_response_id`, GET, DELETE).
(Which Kimi chat and message a response id names is gateway/reply_ids.py's, stored or not.)
"""
from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Optional

from gateway.store import Store

log = logging.getLogger(__name__)


class ResponseArchive:
    """The store's values under names that hash the caller: one caller never sees another's responses."""

    def __init__(self, store: Store, ttl_seconds: int):
        self.store = store
        self.ttl = ttl_seconds

    def save(self, caller: str, response: dict[str, Any], input_items: list[dict], is_stored: bool) -> None:
        """With `is_stored`, keep the response, its input items and each item by id. A store outage
        costs the later lookups, never this answer."""
        if not is_stored:
            return
        try:
            self._put(caller, "response", response["id"], {"response": response, "input": input_items})
            for item in [*input_items, *response.get("output", [])]:
                if isinstance(item.get("id"), str):
                    self._put(caller, "item", item["id"], item)
        except Exception as exc:
            log.warning("could not keep response %s: %s", response.get("id"), type(exc).__name__)

    def response(self, caller: str, response_id: str) -> Optional[dict[str, Any]]:
        found = self._get(caller, "response", response_id)
        return found.get("response") if found else None

    def input_items(self, caller: str, response_id: str) -> Optional[list[dict]]:
        found = self._get(caller, "response", response_id)
        return found.get("input") if found else None

    def item(self, caller: str, item_id: str) -> Optional[dict[str, Any]]:
        return self._get(caller, "item", item_id)

    def delete(self, caller: str, response_id: str) -> bool:
        """Forget a stored response; False when there was none."""
        if self._get(caller, "response", response_id) is None:
            return False
        self.store.remember(_name(caller, "response", response_id), "", 0)
        return True

    def _put(self, caller: str, kind: str, key: str, value: dict) -> None:
        self.store.remember(_name(caller, kind, key), json.dumps(value, ensure_ascii=False), self.ttl)

    def _get(self, caller: str, kind: str, key: str) -> Optional[dict[str, Any]]:
        raw = self.store.recall(_name(caller, kind, key))
        if not raw:  # never kept, expired, or deleted (an empty value)
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


def _name(caller: str, kind: str, key: str) -> str:
    # Hashed: the caller (a token's hash, a key's id) and the id stay out of the store's names.
    return f"responses:{kind}:" + hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()
