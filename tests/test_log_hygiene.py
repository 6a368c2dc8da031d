"""The log hygiene check of tests/support/log_hygiene.py finds every kind of leak and passes redacted lines,
and a chat through the gateway logs neither the caller's token nor its prompt. The check of every gateway
log of the run happens when the session ends, so these tests may run in any order."""
import pytest

from tests.support.jwts import make_jwt
from tests.support.log_hygiene import PROMPT_CANARY, find_leaks
from tests.support.waiting import wait_until

TOKEN = make_jwt(sub="hygieneuser000000001")


@pytest.mark.parametrize("line, leak", [
    (f'{{"message": "chat for {TOKEN} goes by the Connect path"}}', TOKEN),
    ('{"message": "Cookie: theme=dark; kimi-auth=abcdefgh12345678; lang=id"}', "kimi-auth=abcdefgh12345678"),
    ('{"message": "key sk-abcdefghijkl0123 refused"}', "sk-abcdefghijkl0123"),
    (f'{{"message": "prompt: {PROMPT_CANARY}"}}', PROMPT_CANARY),
], ids=["token", "cookie", "key", "prompt"])
def test_the_check_finds_a_token_a_cookie_a_key_and_prompt_text(tmp_path, line, leak):
    log = tmp_path / "gateway.log"
    log.write_text('{"message": "booting worker"}\n' + line + "\n")
    assert find_leaks([log]) == {str(log): [leak.encode()]}


def test_the_check_passes_redacted_lines(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text('{"message": "chat for eyJ…[redacted]; kimi-auth=[redacted]; sk-[redacted]; Bearer [redacted]"}\n')
    assert find_leaks([log]) == {}


def test_a_chat_through_the_gateway_logs_no_token_and_no_prompt(gateway, kimi, openai_client):
    response = openai_client.chat.completions.with_raw_response.create(
        model="kimi-latest", messages=[{"role": "user", "content": PROMPT_CANARY}])
    request_id = response.headers["X-Request-Id"]
    assert wait_until(lambda: request_id in gateway.log_text())  # the access line is written after the answer
    assert find_leaks([gateway.log_path]) == {}
