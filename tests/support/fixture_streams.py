"""The Kimi fixture streams of tests/fixtures/kimi, as frames or as wire bytes.

Follows that folder's README recipe by hand (not via kimi/connect/frames.py), so decoder tests are not circular.
"""
from __future__ import annotations

import json
import struct

from tests.support import KIMI_FIXTURES

FIXTURES_DIR = KIMI_FIXTURES

# What plain_text.jsonl answers, and in which chat: the replay most API tests start from.
PLAIN_TEXT = ("Set up a dedicated workspace and keep it free of distractions. "
              "A short list of three daily goals also helps.")
PLAIN_CHAT_ID = "19b3f0a2-6c1e-8d44-8000-0b7e2a91c5d3"
# thinking.jsonl: its reasoning, then its answer.
THINK_TEXT = "The user asks whether 221 is prime. Check small factors: 221 / 13 = 17, so it is composite."
ANSWER_TEXT = "No. 221 is not prime because it equals 13 × 17."


def stream_names() -> list[str]:
    """File names of every Connect stream fixture (*.jsonl), sorted."""
    return sorted(path.name for path in FIXTURES_DIR.glob("*.jsonl"))


def load_frames(name: str) -> list[tuple[int, dict]]:
    """(flags, payload) for each line of a *.jsonl fixture, in wire order."""
    lines = (FIXTURES_DIR / name).read_text(encoding="utf-8").splitlines()
    return [(row["flags"], row["message"]) for row in map(json.loads, filter(None, lines))]


def build_body(name: str) -> bytes:
    """The HTTP response body of a fixture: every line framed as one envelope."""
    body = bytearray()
    for flags, payload in load_frames(name):
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        body += bytes([flags]) + struct.pack(">I", len(data)) + data
    return bytes(body)
