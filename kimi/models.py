"""The public model table: which Kimi scenario and options each model id stands for."""
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
    vision: bool = False
    kimiplus_id: Optional[str] = None
    agent_mode: Optional[str] = None
    description: str = ""


class ModelTable:
    """Resolves public model ids: exact ids, then alias patterns, then the default entry."""

    def __init__(self, table: dict[str, Any]):
        self.created = int(table.get("created", 0))
        self.specs = {model_id: ModelSpec(id=model_id, **options)
                      for model_id, options in table["models"].items()}
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
