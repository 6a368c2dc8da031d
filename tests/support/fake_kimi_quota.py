"""The quota readout of Kimi's web host for fake_kimi.py: GetSubscriptionStats (kimi-protocol-2026.md B.6)
answered per token from a fixture (`quota_for`); `hold_quota()` makes every call wait until the test ends,
as a Kimi that never answers would. Standard library only, like the fake itself."""

import json

STATS_PATH = "/apiv2/kimi.gateway.membership.v2.MembershipService/GetSubscriptionStats"


class QuotaRoutes:
    """A mixin for the fake's request handler; state lives on the FakeKimi (`quotas`, `quota_requests`,
    `quota_gate`)."""

    def _quota_route(self, raw):
        """True when the request was GetSubscriptionStats (and has been answered)."""
        if self.path != STATS_PATH:
            return False
        token = self.headers.get("Authorization", "")[len("Bearer "):]
        with self.fake._lock:
            self.fake.quota_requests.append(token)
            answer, gate = self.fake.quotas.get(token), self.fake.quota_gate
            refused = token in self.fake.rejected_tokens
        if refused:  # B.7: a unary call's refusal
            self._send_body(401, b'{"code":"unauthenticated","message":"REASON_INVALID_AUTH_TOKEN"}')
        elif gate is not None:
            gate.wait(60)  # opened when the test ends (reset); the answer then comes too late to matter
            self._send_body(503, b'{"code":"unavailable","message":"too late"}')
        elif answer is None:
            # Tokens without a readout: the gateways of other tests show "unknown".
            self._send_body(404, b'{"code":"not_found","message":"no quota for this token"}')
        else:
            self._send_body(200, json.dumps(answer).encode())
        return True
