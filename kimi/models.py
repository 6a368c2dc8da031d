"""The public model table: which Kimi scenario and options each model id stands for."""
from __future__ import annotations

from dataclasses import dataclass
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
    """Resolves public model ids; unknown ids take the default entry's options under their own name."""

    def __init__(self, table: dict[str, Any]):
        self.created = int(table.get("created", 0))
        self.specs = {model_id: ModelSpec(id=model_id, **options)
                      for model_id, options in table["models"].items()}
        self.default_id = table["default"]
        if self.default_id not in self.specs:
            raise ValueError(f"default model {self.default_id!r} is not in the model table")

    def resolve(self, model_id: str) -> ModelSpec:
        spec = self.specs.get(model_id)
        if spec is not None:
            return spec
        return self.specs[self.default_id]

    def __contains__(self, model_id: str) -> bool:
        return model_id in self.specs

    def __iter__(self):
        return iter(self.specs.values())
