"""Runs last (files run in name order): every log written by a gateway during this test run is
searched for tokens. Every test token is a JWT and every test key starts with sk-, so any JWT or
key-shaped string in a log is a leak."""
import re

from tests.support.gateways import Gateway

LEAKS = re.compile(rb"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*|\bsk-[\w-]{12,}")


def test_no_gateway_log_of_this_run_contains_a_token_or_key(gateway, kimi, openai_client):
    openai_client.chat.completions.create(model="kimi-latest", messages=[{"role": "user", "content": "x"}])
    assert Gateway.log_paths
    leaks = {str(path): LEAKS.findall(path.read_bytes())[:3] for path in Gateway.log_paths}
    assert {path: found for path, found in leaks.items() if found} == {}
