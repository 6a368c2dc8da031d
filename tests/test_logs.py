"""The redaction every log line passes (blueprints/logs.py): tokens, keys and cookie values hidden in
the places they turn up, in time linear in the line's length, and lines cut at MAX_LINE_CHARS."""
import pytest

from blueprints.logs import MAX_LINE_CHARS, redact, redact_secrets
from tests.support.jwts import make_jwt

TOKEN = make_jwt(sub="logsuser000000000001")


@pytest.mark.parametrize("line, expected", [
    (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer [redacted]"),
    (f"GET /v1beta/models/m?key={TOKEN}&alt=sse", "GET /v1beta/models/m?key=eyJ…[redacted]&alt=sse"),
    (f"Cookie: kimi-auth={TOKEN}; other=1", "Cookie: kimi-auth=[redacted]; other=1"),
    (f'{{"access_token": "{TOKEN}"}}', '{"access_token": "eyJ…[redacted]"}'),
    (f"POST /auth/{TOKEN}/x", "POST /auth/eyJ…[redacted]/x"),
    ("key sk-abcdef123456 used", "key sk-[redacted] used"),
    ("a plain line about eyJ and sk-12", "a plain line about eyJ and sk-12"),
])
def test_tokens_keys_and_cookies_are_hidden_where_they_turn_up(line, expected):
    assert redact(line) == expected


@pytest.mark.timeout(10)
def test_a_crafted_path_costs_time_in_proportion_to_its_length():
    """`/eyJ-eyJ-…` made the old pattern rescan the rest of the run from every `eyJ`: 2.4 s for 64 KB,
    hours for 4 MB. Linear, 4 MB takes a fraction of a second."""
    crafted = "/" + "eyJ-" * 1_000_000
    assert redact_secrets(crafted) == crafted


def test_a_long_line_is_cut_without_leaving_part_of_a_token():
    line = "x " * (MAX_LINE_CHARS // 2 - 3) + TOKEN + " and more"
    cut = redact(line)
    assert cut.startswith("x x ") and "eyJ" not in cut and len(cut) < MAX_LINE_CHARS + 40
    assert cut.endswith(f"…[{len(line) - cut.index('…')} more characters]")
