"""Settings: configs/defaults.yaml, then same-named upper-case environment variables, then overrides.

Read once by the app factory; nothing else reads the environment.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

CONFIG_DIR = Path(__file__).resolve().parent


def load_settings(overrides: Optional[Mapping[str, Any]] = None,
                  environ: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """Every setting, typed like its default in defaults.yaml."""
    environ = os.environ if environ is None else environ
    defaults = _read_yaml("defaults.yaml")
    settings = dict(defaults)
    for key, default in defaults.items():
        raw = environ.get(key.upper())
        if raw is not None:
            settings[key] = _coerce(key, raw, default)
    for key, value in (overrides or {}).items():
        settings[key.lower()] = value
    return settings


def load_models() -> dict[str, Any]:
    """The public model table (configs/models.yaml)."""
    return _read_yaml("models.yaml")


def _read_yaml(name: str) -> dict[str, Any]:
    with open(CONFIG_DIR / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _coerce(key: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ValueError(f"setting {key.upper()} must be a number, got {raw!r}") from None
    return raw
