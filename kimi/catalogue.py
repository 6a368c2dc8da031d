"""Kimi's live model catalogue (GetAvailableModels, docs/kimi-protocol.md D.9 / Appendix B.2): the call,
and its entries as public model ids with the Chat options each one sends. No caching here (gateway/catalogue.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

import requests

from kimi import errors
from kimi.models import ModelSpec
from kimi.transport import Endpoints, browser_headers, calling, read_excerpt

# Membership levels from least to most (B.2.1, ListGoods prices); an unknown level counts as free.
LEVELS = ("LEVEL_FREE", "LEVEL_BASIC", "LEVEL_INTERMEDIATE", "LEVEL_ADVANCED", "LEVEL_STANDARD")
NO_EFFORT = "REASONING_EFFORT_NONE"
# UI keys whose public names read better than the generated ones; other keys: "kimi-" + key, kNdN -> kN.N.
_NAMES = {"k3-agent-ultra": "kimi-k3-swarm", "k28-preview": "kimi-k2.8-preview"}
_CATALOGUE_FAULTS = calling("Kimi's model catalogue")
READ_TIMEOUT = 10  # a unary answer; a model list must never wait long on Kimi


@dataclass(frozen=True)
class Catalogue:
    """One account's catalogue: the public ids it may use, and those its membership is too low for."""

    specs: dict[str, ModelSpec]
    locked: dict[str, str]  # public id -> the membership level it needs


class CatalogueClient:
    """Calls GetAvailableModels for one token (a unary Connect JSON call, B.2)."""

    def __init__(self, endpoints: Endpoints, session: requests.Session, connect_timeout: float = 10):
        self.url = endpoints.base_url + endpoints.models_path
        self.timeout = (connect_timeout, READ_TIMEOUT)
        self.session = session
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "Connect-Protocol-Version": "1", **browser_headers(endpoints.base_url)}

    def fetch(self, token: str) -> dict[str, Any]:
        """The catalogue's JSON answer; KimiError when Kimi refuses or cannot be reached."""
        with _CATALOGUE_FAULTS:
            response = self.session.post(self.url, data=b"{}", timeout=self.timeout,
                                         headers={**self.headers, "Authorization": f"Bearer {token}"})
            with response:
                if response.status_code != 200:
                    raise errors.from_http_status(response.status_code, read_excerpt(response, 1024))
                try:
                    answer = response.json()
                except ValueError:
                    raise errors.ProtocolError("Kimi's model catalogue is not JSON.", code="bad_catalogue") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("availableModels"), list):
            raise errors.ProtocolError("Kimi's model catalogue has no availableModels.", code="bad_catalogue")
        return answer


def membership_of(claims: Optional[dict[str, Any]]) -> str:
    """The account's membership level from its JWT (`membership.level`, B.1.2); LEVEL_FREE when unreadable."""
    membership = (claims or {}).get("membership")
    level = membership.get("level") if isinstance(membership, dict) else None
    return level if level in LEVELS else "LEVEL_FREE"


def read_catalogue(answer: dict[str, Any], membership: str) -> Catalogue:
    """The public models of a GetAvailableModels answer for an account of `membership`."""
    specs: dict[str, ModelSpec] = {}
    locked: dict[str, str] = {}
    for entry in answer.get("availableModels") or ():
        if not isinstance(entry, dict) or not entry.get("scenario") or not (entry.get("key") or entry.get("id")):
            continue
        needed = entry.get("minMembershipLevel")
        variants = entry_specs(entry, membership)
        if needed in LEVELS and _rank(needed) > _rank(membership):
            locked.update((model_id, needed) for model_id in variants)
        else:
            specs.update(variants)
    return Catalogue(specs, locked)


def public_name(entry: dict[str, Any]) -> str:
    key = str(entry.get("key") or entry.get("id"))
    return _NAMES.get(key) or "kimi-" + re.sub(r"^k(\d)d?(\d)(?=-|$)", r"k\1.\2", key)


def entry_specs(entry: dict[str, Any], membership: str) -> dict[str, ModelSpec]:
    """An entry's public ids (B.2.2): where it offers NONE, `name` answers without reasoning and
    `name-thinking` with its default (else highest) effort; elsewhere `name` takes the default effort and
    `name-<effort>` each offered one."""
    name = public_name(entry)
    efforts = tuple(str(option.get("effort")) for option in entry.get("reasoningEffortOptions") or ()
                    if isinstance(option, dict) and option.get("effort"))
    default = entry.get("defaultReasoningEffort") or (efforts[-1] if efforts else None)
    if NO_EFFORT in efforts:
        thinking = [e for e in efforts if e != NO_EFFORT]
        variants = {name: _spec(entry, name, NO_EFFORT, efforts, membership)}
        if thinking:
            chosen = default if default in thinking else thinking[-1]
            variants[name + "-thinking"] = _spec(entry, name + "-thinking", chosen, efforts, membership)
        return variants
    variants = {name: _spec(entry, name, default, efforts, membership)}
    if len(efforts) > 1:
        for effort in efforts:
            variant = f"{name}-{effort.rsplit('_', 1)[-1].lower()}"
            variants[variant] = _spec(entry, variant, effort, efforts, membership)
    return variants


def _spec(entry: dict[str, Any], model_id: str, effort: Optional[str], efforts: tuple, membership: str) -> ModelSpec:
    return ModelSpec(id=model_id, scenario=entry["scenario"], thinking=effort != NO_EFFORT,
                     kimiplus_id=entry.get("kimiPlusId") or None, agent_mode=entry.get("agentMode") or None,
                     reasoning_effort=effort, context_length=_context_length(entry, membership),
                     description=str(entry.get("description") or entry.get("displayName") or ""),
                     kimi_model=str(entry.get("id") or entry.get("key")), efforts=efforts)


def _context_length(entry: dict[str, Any], membership: str) -> Optional[str]:
    """The entry's default context length, only when its option is there and open to this account."""
    wanted = entry.get("defaultContextLength")
    for option in entry.get("contextLengthOptions") or ():
        if isinstance(option, dict) and option.get("contextLength") == wanted:
            needed = option.get("minMembershipLevel")
            is_open = option.get("available") or (needed in LEVELS and _rank(needed) <= _rank(membership))
            return wanted if is_open else None
    return None


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 0
