"""The gateway's own counters of what happened on the way to and from Kimi (Prometheus; /metrics in
blueprints/observability.py serves them with the HTTP ones)."""
from __future__ import annotations

import logging
from typing import Iterable

from prometheus_client import Counter

log = logging.getLogger(__name__)

UPSTREAM_ERRORS = Counter("kimi_gateway_upstream_errors_total", "Errors met on the way to or from Kimi",
                          ["code"])
UNKNOWN_FRAMES = Counter("kimi_gateway_unknown_upstream_frames_total",
                         "Upstream frame kinds the parser does not know (Kimi changed its protocol?)",
                         ["kind"])
_logged_kinds: set[str] = set()


def count_upstream_error(err: Exception) -> None:
    """Count an error met on the way to or from Kimi (retried or not) by its code."""
    UPSTREAM_ERRORS.labels(getattr(err, "code", "") or type(err).__name__).inc()


def count_unknown_kinds(kinds: Iterable[str]) -> None:
    """Count each unknown frame kind of a closed stream; log each kind once per process."""
    for kind in kinds or ():
        UNKNOWN_FRAMES.labels(kind).inc()
        if kind not in _logged_kinds:
            _logged_kinds.add(kind)
            log.warning("Kimi sent a frame kind the parser does not know: %s (logged once per process)", kind)
