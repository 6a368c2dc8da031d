"""The Kimi fixture streams of tests/fixtures/kimi, as frames or as wire bytes.

Follows that folder's README recipe by hand (not via kimi.frames), so decoder tests are not circular.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

FIXTURES_DIR = Path(__file__).parent / "fixtures" / "kimi"


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
