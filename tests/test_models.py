import pytest

from configs.settings import load_models
from kimi.models import ModelTable

MODELS = ModelTable(load_models())


@pytest.mark.parametrize("requested, served", [
    ("kimi-k2.5-thinking", "kimi-k2.5-thinking"),
    ("claude-sonnet-4-5-20250929", "kimi-k2.5-instant"),
    ("claude-haiku-4-5", "kimi-k2.5-instant"),
    ("gemini-2.5-flash-lite", "kimi-k2.5-instant"),
    ("gemini-2.5-pro", "kimi-k2.5-thinking"),
    ("Gemini-2.5-Flash", "kimi-k2.5-instant"),
    ("gpt-4o-mini", "kimi-k2.5-instant"),
    ("o3-mini", "kimi-k2.5-thinking"),
    ("something-else", "kimi-k2.5-instant"),
])
def test_model_ids_and_foreign_aliases_resolve(requested, served):
    assert MODELS.resolve(requested).id == served


def test_a_table_naming_an_undefined_model_is_refused():
    with pytest.raises(ValueError, match="not defined"):
        ModelTable({"default": "a", "models": {"a": {"scenario": "S"}},
                    "aliases": [{"pattern": "x-*", "model": "b"}]})
