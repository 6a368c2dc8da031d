"""The quota readout on /auth and in /auth/status (kimi-protocol-2026.md B.6): each account's membership
level, usage as percentages and reset times from GetSubscriptionStats on the fake Kimi, the paid-plan
warning, "unknown" when Kimi does not answer, and one call per account within the cache's lifetime."""
import re
import threading

import pytest

from kimi.quota import READ_TIMEOUT

from tests.support.admin_setup import ADMIN_PASSWORD
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways
# A page waits for a readout only until it arrives; the long wait keeps a loaded machine from showing
# "unknown" in the tests that expect the readout.
pytestmark = pytest.mark.app("admin", quota_page_wait=30)

CLIENT_TIMEOUT = 4  # seconds a client waits for /auth in the test where Kimi never answers
ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
FREE = make_jwt(sub="quotafree00000000001", membership={"level": "LEVEL_FREE"})
PAID = make_jwt(sub="quotapaid00000000001", membership={"level": "LEVEL_BASIC"})


def save(client, token):
    assert client.post("/auth/save", json={"cookies": token}, headers=ADMIN).status_code == 201


def quota_cell(client, lang):
    """The quota cell of the one saved account, as (data-quota, its text with the markup taken out)."""
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth").text).group(1)
    client.post("/auth/login", data={"csrf_token": csrf, "password": ADMIN_PASSWORD})
    page = client.get(f"/auth?lang={lang}")
    assert page.status_code == 200
    state, cell = re.search(r'<td class="quota" data-quota="(\w+)">(.*?)</td>', page.text, re.S).groups()
    return state, " ".join(re.sub(r"<[^>]+>", " ", cell).split())


@pytest.mark.parametrize("lang,expected", [
    ("id", "Gratis Terpakai 3,2% (sisa 96,8%) reset 2027-01-02 00:00 UTC"),
    ("en", "Free Used 3.2% (left 96.8%) resets 2027-01-02 00:00 UTC"),
])
def test_a_free_account_shows_its_level_usage_and_reset_without_the_paid_warning(kimi, client, lang, expected):
    kimi.quota_for(FREE, "subscription_stats_free.json")
    save(client, FREE)
    assert quota_cell(client, lang) == ("known", expected)


@pytest.mark.parametrize("lang,expected", [
    ("id", "Basic Terpakai 42% (sisa 58%) Kimi Code: 25% reset 2026-12-15 08:30 UTC "
           "Kimi Code 5 jam: 0% · reset 2026-12-02 20:00 UTC Kimi Code 7 hari: 12,5% · reset 2026-12-07 00:00 UTC "
           "Akun berbayar — chat web (juga lewat gateway ini) memakai kuota bulanan yang sama dengan Kimi Code."),
    ("en", "Basic Used 42% (left 58%) Kimi Code: 25% resets 2026-12-15 08:30 UTC "
           "Kimi Code 5 h: 0% · resets 2026-12-02 20:00 UTC Kimi Code 7 d: 12.5% · resets 2026-12-07 00:00 UTC "
           "Paid account — web chat (this gateway included) draws the same monthly quota as Kimi Code."),
])
def test_a_paid_account_shows_its_kimi_code_windows_and_the_warning(kimi, client, lang, expected):
    kimi.quota_for(PAID, "subscription_stats_paid.json")
    save(client, PAID)
    assert quota_cell(client, lang) == ("known", expected)


@pytest.mark.parametrize("lang,expected", [("id", "Basic Pemakaian: tidak diketahui"),
                                           ("en", "Basic Usage: unknown")])
def test_the_page_shows_unknown_at_once_while_kimi_never_answers(kimi, make_app, lang, expected):
    client = make_app("admin", quota_page_wait=0.2).test_client()
    kimi.hold_quota()
    save(client, PAID)
    shown = {}
    loading = threading.Thread(target=lambda: shown.update(cell=quota_cell(client, lang)), daemon=True)
    loading.start()
    # The client gives up before the quota call's own read timeout could end the wait for the page.
    loading.join(timeout=CLIENT_TIMEOUT)
    assert CLIENT_TIMEOUT < READ_TIMEOUT and not loading.is_alive()
    state, cell = shown["cell"]
    assert (state, cell.startswith(expected)) == ("unknown", True)
    assert "Kimi Code" in cell  # the level alone says the plan is paid: the warning stays
    assert kimi.quota_requests == [PAID] and not kimi.quota_gate.is_set()  # the call is still held


def test_status_gives_each_accounts_quota_fields(kimi, client):
    kimi.quota_for(PAID, "subscription_stats_paid.json")
    save(client, PAID)
    account, = client.get("/auth/status", headers=ADMIN).json["accounts"]
    assert account["quota"] == {
        "state": "known", "membership_level": "LEVEL_BASIC", "is_paid": True,
        "used_ratio": 0.42, "remaining_ratio": 0.58, "kimi_code_used_ratio": 0.25,
        "resets_at": "2026-12-15T08:30:00Z", "checked_at": account["quota"]["checked_at"],
        "windows": [{"name": "code_5h", "used_ratio": 0.0, "resets_at": "2026-12-02T20:00:00Z"},
                    {"name": "code_7d", "used_ratio": 0.125, "resets_at": "2026-12-07T00:00:00Z"}]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", account["quota"]["checked_at"])


def test_status_says_unknown_for_an_account_kimi_gives_no_readout(kimi, client):
    save(client, FREE)  # the fake answers 404 for a token it has no readout for
    account, = client.get("/auth/status", headers=ADMIN).json["accounts"]
    assert account["quota"] == {"state": "unknown", "membership_level": "LEVEL_FREE", "is_paid": False,
                                "used_ratio": None, "remaining_ratio": None, "kimi_code_used_ratio": None,
                                "resets_at": None, "windows": [], "checked_at": None}


def test_page_loads_within_the_cache_lifetime_make_one_stats_call(kimi, make_app, client):
    kimi.quota_for(FREE)
    save(client, FREE)
    for lang in ("id", "en", "id"):
        assert quota_cell(client, lang)[0] == "known"
    other_worker = make_app("admin", quota_page_wait=30).test_client()  # the same store, as a second worker
    assert other_worker.get("/auth/status", headers=ADMIN).json["accounts"][0]["quota"]["state"] == "known"
    assert kimi.quota_requests == [FREE]


def test_a_page_view_never_renews_an_account_to_read_its_quota(kimi, kimi_auth, client):
    save(client, kimi_auth.issue_refresh(sub="quotarefresh00000001", iss="account"))  # no access token yet
    account, = client.get("/auth/status", headers=ADMIN).json["accounts"]
    assert account["quota"]["state"] == "unknown"
    assert kimi.quota_requests == [] and kimi_auth.refresh_calls == []
