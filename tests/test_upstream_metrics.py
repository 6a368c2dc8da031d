"""Upstream trouble on /metrics: errors met on the way to or from Kimi counted by code, frame kinds the
parser does not know counted by kind and logged once per process."""
import openai
import pytest
import requests

from tests.support.fixture_streams import load_frames
from tests.support.waiting import wait_until

UNKNOWN = (0, {"op": "set", "mask": "block.hologram", "eventOffset": 4, "block": {"id": "9", "hologram": {}}})


def metric(gateway, name, label):
    """The value of one labelled sample on /metrics (0 when absent)."""
    for line in requests.get(gateway.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{name}{{{label}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def ask(openai_client):
    return openai_client.chat.completions.create(model="kimi-latest", messages=[{"role": "user", "content": "x"}])


def test_unknown_frame_kinds_are_counted_and_logged_once(kimi, gateway, openai_client):
    name, label = "kimi_gateway_unknown_upstream_frames_total", 'kind="mask:block.hologram"'
    before = metric(gateway, name, label)
    frames = load_frames("plain_text.jsonl")
    kimi.frames(frames[:4] + [UNKNOWN] + frames[4:]).frames(frames[:4] + [UNKNOWN] + frames[4:])
    ask(openai_client), ask(openai_client)
    assert wait_until(lambda: metric(gateway, name, label) == before + 2)
    notes = [line for line in gateway.log_text().splitlines() if "does not know: mask:block.hologram" in line]
    assert len(notes) == 1


@pytest.mark.parametrize("fixture, code, error", [
    ("error_unauthenticated.jsonl", "unauthenticated", openai.AuthenticationError),
    ("error_after_done.jsonl", "permission_denied", openai.APIError),  # mid-stream: after the answer began
])
def test_upstream_errors_are_counted_by_code(kimi, gateway, openai_client, fixture, code, error):
    before = metric(gateway, "kimi_gateway_upstream_errors_total", f'code="{code}"')
    kimi.replay(fixture)
    with pytest.raises(error):
        list(openai_client.chat.completions.create(model="kimi-latest", stream=True,
                                                   messages=[{"role": "user", "content": "x"}]))
    assert metric(gateway, "kimi_gateway_upstream_errors_total", f'code="{code}"') == before + 1
