"""The log hygiene check, a fixture plugin registered by tests/conftest.py: when the session ends, every log
written by a gateway of this run (Gateway.log_paths) is searched for tokens, keys, cookies and the prompt
canary, and any find fails the run, whatever order the tests ran in and whichever of them ran."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.gateways import Gateway

# Every test token is a JWT and every test key starts with sk-, so any JWT or key-shaped string is a leak; so
# is a kimi-auth cookie value the redaction missed, and the prompt tests/test_log_hygiene.py sends.
PROMPT_CANARY = "Hygiene canary: count the quokkas of Rottnest"
LEAKS = re.compile(rb"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*|\bsk-[\w-]{12,}|kimi-auth=[\w.-]{8,}|"
                   + re.escape(PROMPT_CANARY.encode()))


def find_leaks(paths: list[Path]) -> dict[str, list[bytes]]:
    """path -> the first few leaks in that log, for each log that has any."""
    found = {str(path): LEAKS.findall(path.read_bytes())[:3] for path in paths if path.exists()}
    return {path: leaks for path, leaks in found.items() if leaks}


@pytest.fixture(scope="session", autouse=True)
def gateway_logs_stay_clean():
    """Set up before the first gateway starts and torn down after the last one stopped (session fixtures end
    in reverse order), so it reads every log whole; a leak fails the run as an error of the last test."""
    yield
    leaks = {path: [leak[:60] for leak in found] for path, found in find_leaks(Gateway.log_paths).items()}
    if leaks:
        pytest.fail(f"gateway logs hold a token, key, cookie or prompt text: {leaks}", pytrace=False)
