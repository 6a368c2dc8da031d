"""An account's quota as Kimi reports it (GetSubscriptionStats, kimi-protocol-2026.md B.6, docs D.6): the
call, and its answer read as ratios and reset times. No caching here (gateway/quota.py keeps readouts)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

import requests

from kimi import errors
from kimi.catalogue import LEVELS
from kimi.transport import Endpoints
from kimi.unary import UnaryCall

# The readout is shown on /auth, which must not wait long on Kimi (it shows "unknown" instead).
READ_TIMEOUT = 5
# The rate-limit windows an answer may carry, in the order shown: Kimi Code's 5-hour and 7-day windows,
# and the unnamed ones a later capture saw (B.6, idx:69135296255).
WINDOWS = (("ratelimitCode5h", "code_5h"), ("ratelimitCode7d", "code_7d"),
           ("ratelimit5h", "5h"), ("ratelimit7d", "7d"))
KIMI_CODE_WINDOWS = frozenset({"code_5h", "code_7d"})


@dataclass(frozen=True)
class Window:
    name: str  # one of WINDOWS' short names
    used_ratio: float
    resets_at: Optional[float]  # Unix seconds


@dataclass(frozen=True)
class Quota:
    """What one GetSubscriptionStats answer says; ratios run 0..1 (there is no "remaining" field: it is
    1 − used, B.6)."""

    used_ratio: Optional[float]  # subscriptionBalance.amountUsedRatio; None without a balance
    kimi_code_used_ratio: Optional[float]
    resets_at: Optional[float]  # the balance's expireTime, Unix seconds
    windows: tuple[Window, ...]


class QuotaClient:
    """Calls GetSubscriptionStats on the web host for one access token (a unary Connect JSON call)."""

    def __init__(self, endpoints: Endpoints, session: requests.Session, connect_timeout: float = 10):
        self.call = UnaryCall(endpoints.base_url + endpoints.subscription_stats_path, session,
                              (min(connect_timeout, READ_TIMEOUT), READ_TIMEOUT), "Kimi's quota readout",
                              bad_answer="bad_quota")

    def fetch(self, token: str) -> Quota:
        """The account's quota; KimiError when Kimi refuses, cannot be reached or answers no object."""
        answer = self.call.post(token)
        if not isinstance(answer, dict):
            raise errors.ProtocolError("Kimi's quota readout is not an object.", code="bad_quota")
        return read_quota(answer)


def read_quota(answer: dict[str, Any]) -> Quota:
    """The quota of a GetSubscriptionStats answer. Protobuf JSON leaves out zero values, so a missing
    ratio inside a present balance or an enabled window is 0 (B.6: `ratelimitCode5h` without `ratio`)."""
    balance = answer.get("subscriptionBalance")
    balance = balance if isinstance(balance, dict) else None
    windows = []
    for field, name in WINDOWS:
        window = answer.get(field)
        if isinstance(window, dict) and window.get("enabled"):
            windows.append(Window(name, _ratio(window.get("ratio")), _seconds(window.get("resetTime"))))
    return Quota(used_ratio=_ratio(balance.get("amountUsedRatio")) if balance else None,
                 kimi_code_used_ratio=_ratio(balance.get("kimiCodeUsedRatio")) if balance else None,
                 resets_at=_seconds(balance.get("expireTime")) if balance else None, windows=tuple(windows))


def membership_level(claims: Optional[dict[str, Any]]) -> Optional[str]:
    """The account's membership level from its access JWT (`membership.level`, B.1.2), or None when the
    token names none of the known levels (old tokens carry a number)."""
    membership = (claims or {}).get("membership")
    level = membership.get("level") if isinstance(membership, dict) else None
    return level if level in LEVELS else None


def _ratio(value: Any) -> float:
    """A ratio, which Kimi may send as a number or a string; clamped to 0..1, 0 when unreadable."""
    try:
        ratio = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    return min(max(ratio, 0.0), 1.0) if ratio == ratio else 0.0  # NaN reads as 0


def _seconds(value: Any) -> Optional[float]:
    """Unix seconds of a protobuf Timestamp (RFC 3339 text) or of seconds sent as a number or digits."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    # Fractions beyond microseconds (protobuf sends nanoseconds) are more than fromisoformat reads.
    text = re.sub(r"(\.\d{1,6})\d*", r"\1", text).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
