"""Reading GetSubscriptionStats answers (kimi/quota.py, kimi-protocol-2026.md B.6) and the readout the
pages show (gateway/quota.py), as tables; the call itself against the fake Kimi."""
import json

import pytest

from gateway.quota import readout
from kimi.errors import AuthRejected, UpstreamUnavailable
from kimi.quota import Quota, QuotaClient, Window, membership_level, read_quota
from kimi.transport import Endpoints, shared_session
from tests.support import KIMI_FIXTURES
from tests.support.jwts import make_jwt

DEC_15 = 1797323400.0  # 2026-12-15T08:30:00Z


def fixture(name):
    return json.loads((KIMI_FIXTURES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("answer,expected", [
    ({"subscriptionBalance": {"amountUsedRatio": 0.0319, "expireTime": "2027-01-02T00:00:00Z"}},
     Quota(0.0319, 0.0, 1798848000.0, ())),
    # Protobuf JSON leaves zeros out; ratios may come as strings; times with nanoseconds or as seconds.
    ({"subscriptionBalance": {"kimiCodeUsedRatio": "0.25", "expireTime": "2026-12-15T08:30:00.123456789Z"}},
     Quota(0.0, 0.25, DEC_15 + 0.123456, ())),
    ({"subscriptionBalance": {"amountUsedRatio": 1.7, "expireTime": str(int(DEC_15))}}, Quota(1.0, 0.0, DEC_15, ())),
    ({"subscriptionBalance": {"amountUsedRatio": "lots", "expireTime": "soon"}}, Quota(0.0, 0.0, None, ())),
    ({"ratelimitCode5h": {"enabled": True, "resetTime": "2026-12-15T08:30:00Z"},
      "ratelimitCode7d": {"enabled": False, "ratio": 0.5}, "ratelimit7d": {"enabled": True, "ratio": 0.5}},
     Quota(None, None, None, (Window("code_5h", 0.0, DEC_15), Window("7d", 0.5, None)))),
    ({}, Quota(None, None, None, ())),
])
def test_an_answer_reads_as_ratios_and_reset_times(answer, expected):
    assert read_quota(answer) == expected


@pytest.mark.parametrize("claims,level", [({"membership": {"level": "LEVEL_ADVANCED"}}, "LEVEL_ADVANCED"),
                                          ({"membership": {"level": 10}}, None), ({}, None), (None, None)])
def test_the_membership_level_comes_from_the_access_token(claims, level):
    assert membership_level(claims) == level


@pytest.mark.parametrize("level,windows,is_paid", [
    ("LEVEL_FREE", [], False), ("LEVEL_INTERMEDIATE", [], True), (10, [], False),
    # Kimi Code windows come only with a paid plan, whatever an older token says.
    ("LEVEL_FREE", [{"name": "code_7d", "used_ratio": 0.1, "resets_at": None}], True),
    ("LEVEL_FREE", [{"name": "5h", "used_ratio": 0.1, "resets_at": None}], False),
])
def test_a_readout_warns_of_paid_plans_only(level, windows, is_paid):
    record = {"access_token": make_jwt(membership={"level": level})}
    kept = {"used_ratio": 0.5, "kimi_code_used_ratio": 0.0, "resets_at": None, "windows": windows,
            "checked_at": DEC_15}
    assert readout(record, kept)["is_paid"] is is_paid


def test_the_call_reads_the_fake_kimis_answer_and_maps_its_refusals(kimi):
    client = QuotaClient(Endpoints(base_url=kimi.url), shared_session())
    token = make_jwt(sub="quotacall00000000001")
    kimi.quota_for(token, "subscription_stats_paid.json")
    assert client.fetch(token) == read_quota(fixture("subscription_stats_paid.json"))
    assert kimi.quota_requests == [token]
    with pytest.raises(UpstreamUnavailable):
        client.fetch(make_jwt(sub="quotanone00000000001"))  # the fake has no readout: 404


def test_a_refused_token_is_an_auth_error(kimi):
    token = make_jwt(sub="quotarefused00000001")
    kimi.quota_for(token).rejected_tokens.add(token)
    with pytest.raises(AuthRejected):
        QuotaClient(Endpoints(base_url=kimi.url), shared_session()).fetch(token)
