"""Page language: Bahasa Indonesia by default, English on request (`?lang=en`, remembered in a
cookie), and every visible page text in both languages from configs/strings.yaml.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Mapping

import yaml

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
COOKIE = "lang"
STRINGS_PATH = Path(__file__).resolve().parent.parent / "configs" / "strings.yaml"


def choose_language(args: Mapping[str, str], cookies: Mapping[str, str]) -> str:
    """The query's `lang` when valid, else the remembered one, else Indonesian."""
    for candidate in (args.get("lang"), cookies.get(COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


@lru_cache(maxsize=len(LANGUAGES))
def strings(lang: str) -> dict[str, str]:
    """Every page text in `lang` (a text missing in one language is a test failure, not a fallback)."""
    table = yaml.safe_load(STRINGS_PATH.read_text(encoding="utf-8"))
    return {key: texts[lang] for key, texts in table.items()}
