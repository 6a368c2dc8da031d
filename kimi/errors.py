"""Errors the gateway can meet, named by meaning, each with the HTTP status it answers with.

KimiError
 ├── BadRequest            400  the caller's request cannot be served as sent
 ├── AuthRejected          401  no token, an expired token, or Kimi refused it (retrying won't help)
 ├── PaymentRequired       402  Kimi's paywall: the feature needs a paid membership
 ├── PermissionDenied      403  Kimi forbids this account the action
 ├── NotFound              404
 ├── RequestTimeout        408  the caller's request body did not arrive in time
 ├── PayloadTooLarge       413  the request body, or its attachments, exceed a limit
 ├── RateLimited           429  a limit that lifts with time (carries Retry-After)
 │    └── Overloaded       429  Kimi is overloaded (Anthropic callers see 529)
 │         └── BusyForFreeUsers 429  Kimi refuses free accounts for now (429 for every caller)
 ├── Unimplemented         501  a method of an API that Kimi's web chat cannot serve (embeddings)
 ├── UpstreamUnavailable   502  Kimi answered 5xx, refused the connection, or failed internally
 │    └── ProtocolError    502  Kimi's stream could not be understood or ended early
 └── UpstreamTimeout       504  Kimi did not answer in time

Nothing here imports Flask or requests; formats turn these into their own error bodies.
"""
from __future__ import annotations

from typing import Optional

from kimi.events import UpstreamError


class KimiError(Exception):
    status = 500
    is_retryable = True
    default_message = "The gateway failed to handle this request."

    def __init__(self, message: str = "", *, code: str = "", param: Optional[str] = None,
                 retry_after: Optional[int] = None, kimi_retry_after: Optional[int] = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.code = code
        self.param = param
        self.retry_after = retry_after
        # How long Kimi itself said to wait (its Retry-After header or a Connect retry delay), when it
        # said: the account then rests exactly that long.
        self.kimi_retry_after = kimi_retry_after

    def response_headers(self) -> dict[str, str]:
        """Headers the official SDKs read to decide whether and when to retry."""
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if not self.is_retryable:
            headers["x-should-retry"] = "false"
        return headers


class BadRequest(KimiError):
    status = 400
    is_retryable = False
    default_message = "The request is not valid."


class AuthRejected(KimiError):
    status = 401
    is_retryable = False
    default_message = "The Kimi token was rejected."


class PaymentRequired(KimiError):
    status = 402
    is_retryable = False
    default_message = "This Kimi feature needs a paid membership."


class PermissionDenied(KimiError):
    status = 403
    is_retryable = False
    default_message = "Kimi does not allow this account to do that."


class NotFound(KimiError):
    status = 404
    is_retryable = False
    default_message = "Not found."


class RequestTimeout(KimiError):
    status = 408
    default_message = "The request body did not arrive in time."


class PayloadTooLarge(KimiError):
    status = 413
    is_retryable = False
    default_message = "The request body is too large."


class RateLimited(KimiError):
    status = 429
    default_message = "Too many requests; try again later."

    def __init__(self, message: str = "", *, retry_after: int = 30, **kwargs):
        super().__init__(message, retry_after=retry_after, **kwargs)


class Overloaded(RateLimited):
    default_message = "Kimi is busy at the moment. Please try again in a little while."


class BusyForFreeUsers(Overloaded):
    """REASON_SERVER_OVERLOADED_FOR_FREE_USER (B.2.3, B.7): a refusal of the account's tier ("subscribe to
    enter a priority queue"), not of Kimi as a whole, so every API hears its rate-limit status."""

    default_message = "Kimi is refusing free accounts at the moment. Please try again in a little while."


class Unimplemented(KimiError):
    status = 501
    is_retryable = False
    default_message = "This method is not implemented by the gateway."


class UpstreamUnavailable(KimiError):
    status = 502
    default_message = "Kimi could not be reached or failed to answer."


class ProtocolError(UpstreamUnavailable):
    default_message = "Kimi's reply could not be understood."


class UpstreamTimeout(KimiError):
    status = 504
    default_message = "Kimi did not answer in time."


# Connect error codes (docs/kimi-protocol.md A.11) -> our kinds. Codes not listed are upstream faults.
_CONNECT_CODES: dict[str, type[KimiError]] = {
    "unauthenticated": AuthRejected,
    "permission_denied": PermissionDenied,
    "resource_exhausted": RateLimited,
    "invalid_argument": BadRequest,
    "not_found": NotFound,
    "deadline_exceeded": UpstreamTimeout,
    "unavailable": UpstreamUnavailable,
}

# Reasons that say more than their code does.
_CONNECT_REASONS: dict[str, type[KimiError]] = {
    "REASON_SERVER_OVERLOADED_FOR_FREE_USER": BusyForFreeUsers,
    "REASON_COMPLETION_OVERLOADED": Overloaded,  # a block.exception mid-answer (kimi-protocol.md D.7)
    "REASON_ANONYMOUS_REQUIRE_LOGIN": AuthRejected,
}


def from_upstream_error(error: UpstreamError) -> KimiError:
    """The KimiError that an in-stream Connect error stands for."""
    if error.is_paywall:
        kind = PaymentRequired
    else:
        kind = _CONNECT_REASONS.get(error.reason) or _CONNECT_CODES.get(error.code, UpstreamUnavailable)
    text = error.message or kind.default_message
    if error.retry_delay and issubclass(kind, RateLimited):
        return kind(f"Kimi: {text}", code=error.code or "upstream_error", retry_after=error.retry_delay,
                    kimi_retry_after=error.retry_delay)
    return kind(f"Kimi: {text}", code=error.code or "upstream_error")


# Error types that mean Kimi refused the content (B.5: chat.forbidden); mid-answer the legacy stream
# ends the answer with a visible note rather than an error, so the text already streamed stays usable.
CONTENT_POLICY_TYPES = frozenset({"chat.forbidden"})


def from_error_type(error_type: str, message: str = "") -> KimiError:
    """The KimiError an `error_type` of Kimi's REST API stands for (B.5, either host); unknown types are
    upstream faults."""
    if error_type in CONTENT_POLICY_TYPES:
        kind, text, extra = PermissionDenied, "Kimi refused this request under its content policy.", {}
    else:
        kind, text, extra = _ERROR_TYPES.get(error_type, (UpstreamUnavailable, "", {}))
    if not text:
        text = f"Kimi reported an error: {message or error_type or 'unknown'}."
    elif message:
        text += f" (Kimi: {message})"
    return kind(text, code=error_type or "upstream_error", **extra)


# error_type -> (kind, our message, extra arguments)
_ERROR_TYPES: dict[str, tuple[type[KimiError], str, dict]] = {
    "auth.token.invalid": (AuthRejected, "Kimi says the token is no longer valid; log in to "
                           "Kimi again and copy a fresh refresh_token.", {}),
    # Another answer is still streaming into this chat: it ends by itself, so "try again shortly"
    # (429 + Retry-After) is truthful and lets SDKs retry on their own.
    "chat.user_stream_pushing": (RateLimited, "Kimi is still answering an earlier message in this "
                                 "chat; retry when that answer has finished.", {"retry_after": 5}),
    "openai.completion.token_length_too_long": (BadRequest, "The conversation is too long for Kimi; "
                                                "start a new conversation or send less history.", {}),
    "openai.completion.stream": (UpstreamUnavailable, "Kimi's servers are busy and stopped "
                                 "answering; try again in a moment.", {}),
}


def from_http_status(status: int, body_text: str = "", retry_after: Optional[int] = None) -> KimiError:
    """The KimiError for a non-200 HTTP answer from Kimi (body shown only as a short excerpt);
    `retry_after`: the seconds of the answer's Retry-After header, when it had one."""
    excerpt = " ".join(body_text.split())[:200]
    detail = f" ({excerpt})" if excerpt else ""
    if status == 401:
        return AuthRejected(f"Kimi rejected the token (HTTP 401){detail}.", code="unauthenticated")
    if status == 403:
        return PermissionDenied(f"Kimi refused the request (HTTP 403){detail}.", code="permission_denied")
    if status == 429:
        return RateLimited(f"Kimi is rate limiting this account (HTTP 429){detail}.", code="rate_limited",
                           retry_after=retry_after or 30, kimi_retry_after=retry_after)
    if status in (408, 504):
        return UpstreamTimeout(f"Kimi timed out (HTTP {status}).", code="upstream_timeout")
    return UpstreamUnavailable(f"Kimi answered HTTP {status}{detail}.", code="upstream_http_error")


def silent_mid_answer() -> KimiError:
    """Kimi went quiet inside an answer for longer than the read deadline (both upstream paths)."""
    return UpstreamTimeout("Kimi stopped sending in the middle of the answer.", code="upstream_timeout")


def cut_mid_answer() -> KimiError:
    """The connection to Kimi closed or broke inside an answer (both upstream paths)."""
    return UpstreamUnavailable("The connection to Kimi was cut.", code="upstream_disconnected")
