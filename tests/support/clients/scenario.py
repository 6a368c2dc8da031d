"""What the Python client scripts share: the gateway from the environment, and `play`, which runs the
named steps and prints {step: what the client parsed} as one JSON line (a failing step: its error)."""
from __future__ import annotations

import json
import os
import traceback
from typing import Callable

from tests.support.client_kimi import TOOL

GATEWAY_URL = os.environ.get("GATEWAY_URL", "")
GATEWAY_KEY = os.environ.get("GATEWAY_KEY", "")
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                  "required": ["city"]}
WEATHER_TOOL = {"type": "function", "function": {"name": TOOL, "description": "The current weather in a city.",
                                                 "parameters": WEATHER_SCHEMA}}


def play(steps: dict[str, Callable[[], object]]) -> None:
    parsed = {}
    for name, step in steps.items():
        try:
            parsed[name] = step()
        except Exception:  # the test shows it; the other steps still run
            parsed[name] = {"error": traceback.format_exc()}
    print(json.dumps(parsed), flush=True)
