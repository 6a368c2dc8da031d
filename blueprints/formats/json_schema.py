"""JSON-only answers: strip Markdown fences and check a value against the small JSON Schema subset
Gemini clients send (type, properties, required, items, enum, nullable, anyOf). Standard library only.
"""
from __future__ import annotations

import re
from typing import Any, Optional

# A fenced block, optionally tagged (```json), anywhere in the answer: models wrap JSON in one
# even when told not to, sometimes with a sentence before it.
_FENCED = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)\n?[ \t]*```", re.DOTALL)

# Google's responseSchema spells types in upper case ("OBJECT"); JSON Schema in lower case.
_KINDS = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    # bool is an int in Python; a JSON `true` is never a number.
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "integer": lambda value: (isinstance(value, int) and not isinstance(value, bool))
    or (isinstance(value, float) and value.is_integer()),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
}


def strip_fences(text: str) -> str:
    """The JSON text inside the answer: the first fenced block's content, or the answer trimmed."""
    fenced = _FENCED.search(text)
    return (fenced.group(1) if fenced else text).strip()


def find_violation(value: Any, schema: Any, path: str = "$") -> Optional[str]:
    """A sentence saying where `value` breaks `schema`, or None when it conforms.

    Keywords outside the subset are ignored, so an unusual schema never rejects a good answer.
    """
    if not isinstance(schema, dict):
        return None
    if value is None and schema.get("nullable") is True:
        return None
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if isinstance(kinds, list):
        known = [kind.lower() for kind in kinds if isinstance(kind, str) and kind.lower() in _KINDS]
        if known and not any(_KINDS[kind](value) for kind in known):
            return f"{path} must be of type {' or '.join(known)}"
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        return f"{path} must be one of {schema['enum']}"
    alternatives = schema.get("anyOf")
    if isinstance(alternatives, list) and alternatives:
        if all(find_violation(value, option, path) for option in alternatives):
            return f"{path} matches none of the allowed schemas"
    if isinstance(value, dict):
        return _object_violation(value, schema, path)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problem = find_violation(item, schema["items"], f"{path}[{index}]")
            if problem:
                return problem
    return None


def _object_violation(value: dict, schema: dict, path: str) -> Optional[str]:
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if name not in value:
            return f"{path}.{name} is required"
    properties = schema.get("properties")
    for name, subschema in (properties.items() if isinstance(properties, dict) else ()):
        if name in value:
            problem = find_violation(value[name], subschema, f"{path}.{name}")
            if problem:
                return problem
    return None
