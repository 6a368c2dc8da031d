"""The public model table: which Kimi scenario and options each model id stands for, and which
models stand in for an overloaded one (OVERLOAD_FALLBACK)."""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Optional


@dataclass(frozen=True)
class ModelSpec:
    id: str
    scenario: str
    thinking: bool = False
    search: Any = False  # False, True (offered) or "force"
    vision: bool = False  # a name clients pick for images (every scenario here accepts them)
    kimiplus_id: Optional[str] = None
    agent_mode: Optional[str] = None
    reasoning_effort: Optional[str] = None  # options.reasoning_effort, e.g. REASONING_EFFORT_MAX (A.5)
    context_length: Optional[str] = None  # options.context_length, e.g. CONTEXT_LENGTH_L (A.5)
    extra_tools: tuple = ()  # further tools[].type values, e.g. TOOL_TYPE_PARALLEL_AGENT_V2 (A.5)
    description: str = ""
    kimi_model: Optional[str] = None  # options.model: the catalogue entry's id, e.g. k3-agent (B.2.2)
    efforts: tuple = ()  # the reasoning efforts the entry offers; a request's effort is chosen among them


class ModelTable:
    """Resolves public model ids: exact ids, then alias patterns, then the default entry."""

    def __init__(self, table: dict[str, Any]):
        self.created = int(table.get("created", 0))
        self.specs = {model_id: _spec(model_id, options) for model_id, options in table["models"].items()}
        self.default_id = table["default"]
        self.aliases = [(alias["pattern"].lower(), alias["model"]) for alias in table.get("aliases", [])]
        for target in [self.default_id] + [model for _, model in self.aliases]:
            if target not in self.specs:
                raise ValueError(f"model {target!r} named in the model table is not defined")

    def resolve(self, model_id: str) -> ModelSpec:
        spec = self.specs.get(model_id)
        if spec is not None:
            return spec
        wanted = model_id.lower()
        target = next((model for pattern, model in self.aliases if fnmatchcase(wanted, pattern)),
                      self.default_id)
        return self.specs[target]

    def __contains__(self, model_id: str) -> bool:
        return model_id in self.specs

    def __iter__(self):
        return iter(self.specs.values())


def _spec(model_id: str, options: dict[str, Any]) -> ModelSpec:
    options = dict(options)  # the loaded table stays as it was
    return ModelSpec(id=model_id, extra_tools=tuple(options.pop("extra_tools", None) or ()),
                     efforts=tuple(options.pop("efforts", None) or ()), **options)


def parse_fallbacks(text: str, models: ModelTable) -> dict[str, tuple[str, ...]]:
    """OVERLOAD_FALLBACK ("a>b>c, d>e") as model id -> the ids tried after it, in order.

    Every id of a chain falls back to those after it; the first chain naming an id decides.
    """
    chains: dict[str, tuple[str, ...]] = {}
    for chain_text in text.split(","):
        chain = [part.strip() for part in chain_text.split(">") if part.strip()]
        for model_id in chain:
            if model_id not in models:
                raise ValueError(f"OVERLOAD_FALLBACK names {model_id!r}, which configs/models.yaml does not define")
        for position, model_id in enumerate(chain[:-1]):
            chains.setdefault(model_id, tuple(chain[position + 1:]))
    return chains


# Kimi's efforts from least to most (B.2.1: there is no MEDIUM); a request's neutral level asks for one.
KIMI_EFFORTS = ("REASONING_EFFORT_NONE", "REASONING_EFFORT_LOW", "REASONING_EFFORT_HIGH", "REASONING_EFFORT_MAX")
_WANTED = {"none": 0, "low": 1, "medium": 2, "high": 2, "max": 3}


def choose_effort(level: Optional[str], spec: ModelSpec) -> Optional[str]:
    """options.reasoning_effort for a request's neutral effort level ("none" ... "max") on this model:
    the entry's own effort when none is asked, else the offered effort nearest below the one asked
    (the least offered one when all are above)."""
    if level is None or not spec.efforts:
        return spec.reasoning_effort
    offered = sorted((KIMI_EFFORTS.index(e), e) for e in spec.efforts if e in KIMI_EFFORTS)
    if not offered:
        return spec.reasoning_effort
    wanted = _WANTED[level]
    below = [effort for rank, effort in offered if rank <= wanted]
    return below[-1] if below else offered[0][1]
