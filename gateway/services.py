"""The composition root: everything the gateway is made of, built once from settings.

create_app() (app.py) calls build_services() and keeps the result as the app's one extension;
blueprints reach it through blueprints/upstream.services(). Nothing else builds a store, a pool or a
Kimi client, and nothing is patched in after it is built.
"""
from __future__ import annotations

import logging
import secrets
import string
from dataclasses import dataclass
from typing import Any, Mapping

from configs.settings import load_models
from gateway.access import AcceptedTokens, Keyring
from gateway.audit import AuditLog
from gateway.catalogue import ModelCatalogue
from gateway.continuation import ContinuationMap
from gateway.conversations import ChatOwners, ConversationMemory
from gateway.filters import thinking_output
from gateway.hygiene import ChatJanitor
from gateway.login_throttle import LoginThrottle
from gateway.policies import AccountPolicy
from gateway.pool import AccountPool
from gateway.quota import QuotaBoard
from gateway.registry import Registry
from gateway.request_log import RequestLog
from gateway.reply_ids import ReplyIds
from gateway.response_archive import ResponseArchive
from gateway.store import Store, open_store
from gateway.turn import TurnSettings
from gateway.usage_book import UsageBook
from kimi.catalogue import CatalogueClient
from kimi.connect.client import KimiClient
from kimi.conversations import DEFAULT_TTL
from kimi.legacy.auth import RotationHook
from kimi.legacy.client import LegacyClient
from kimi.models import ModelTable, parse_fallbacks
from kimi.quota import QuotaClient
from kimi.refresh import AccountCalls
from kimi.router import UpstreamRouter
from kimi.transport import Endpoints

log = logging.getLogger(__name__)

# Letters and digits only: nothing the log redaction could mistake for a token and hide.
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Services:
    settings: Mapping[str, Any]
    store: Store
    pool: AccountPool
    registry: Registry
    keyring: Keyring
    logins: LoginThrottle  # paces admin password checks
    router: UpstreamRouter
    turns: TurnSettings
    responses: ResponseArchive  # Responses API objects kept for GET, item_reference, previous_response_id
    secret_key: str  # signs the admin session cookie
    admin_password: str
    quotas: QuotaBoard  # the accounts' quota readouts shown on /auth
    audit: AuditLog  # the owner's actions, shown on /auth/audit
    usage: UsageBook  # usage counts per key and account for the owner's console
    requests_log: RequestLog  # one entry per API request, kept REQUEST_LOG_DAYS


def build_services(settings: Mapping[str, Any]) -> Services:
    store = open_store(settings["data_dir"], settings["redis_url"])
    # Every Kimi URL, from the hosts the settings name: pointing KIMI_BASE_URL and KIMI_AUTH_BASE_URL
    # at www.kimi.ai and auth.kimi.ai moves every call.
    endpoints = Endpoints.from_settings(settings)
    calls = AccountCalls(endpoints=endpoints, connect_timeout=settings["upstream_connect_timeout"])
    pool = AccountPool(store, calls, max_streams=settings["account_max_streams"],
                       cooldown_seconds=settings["account_cooldown_seconds"],
                       renew_ahead=settings["refresh_ahead_seconds"], **_account_policy(settings))
    registry = Registry(pool)
    registry.sync_env(settings["kimi_token"])
    ttl = int(settings["native_continuation_ttl"])
    # Parents of continued chats live in the store, so every worker can continue any chat.
    tips = ConversationMemory(store, ttl_seconds=max(ttl, DEFAULT_TTL))
    # The pool stores the refresh tokens Kimi rotates when a saved legacy account's is used.
    router = _router(settings, endpoints, ModelTable(load_models()), tips, on_rotated=pool.keep_rotated_refresh_token)
    catalogue = ModelCatalogue(CatalogueClient(endpoints, router.connect.session, settings["upstream_connect_timeout"]),
                               router.models, ttl=settings["model_catalogue_ttl"])
    turns = TurnSettings(
        continuations=ContinuationMap(store, tips, ttl) if settings["native_continuation"] else None,
        janitor=ChatJanitor(router.connect.delete_chat, store) if settings["delete_chats"] else None,
        fallbacks=parse_fallbacks(settings["overload_fallback"], router.models),
        thinking=thinking_output(settings["thinking_output"]), catalogue=catalogue, owners=ChatOwners(store),
        accepted=AcceptedTokens(store, calls.probe), reply_ids=ReplyIds(store, int(settings["reply_ids_ttl"])))
    keyring = Keyring(store, settings["api_keys"], settings["key_rate_limit_per_minute"],
                      keyless_loopback=settings["lend_without_key"], max_streams=settings["key_max_streams"])
    _say_who_is_served(keyring)
    quotas = QuotaBoard(QuotaClient(endpoints, router.connect.session, settings["upstream_connect_timeout"]),
                        store, ttl=settings["quota_ttl"])
    requests_log = RequestLog(store, settings["request_log_days"], int(settings["request_log_max_rows"]))
    return Services(
        settings=settings, store=store, pool=pool, registry=registry, router=router, turns=turns,
        keyring=keyring, responses=ResponseArchive(store, int(settings["responses_ttl"])),
        logins=_login_throttle(store, settings),
        secret_key=settings["secret_key"] or store.ensure_secret("secret_key", lambda: secrets.token_hex(32))[0],
        admin_password=_admin_password(store, settings), quotas=quotas,
        audit=AuditLog(store, settings["audit_log_days"]),
        usage=UsageBook(store, requests_log), requests_log=requests_log)


def _account_policy(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The pool's policies that keep the owner's Kimi accounts safe (gateway/policies.py)."""
    policy = AccountPolicy(min_interval=settings["account_min_interval"], daily_cap=settings["account_daily_cap"],
                           circuit_refusals=settings["account_circuit_refusals"])
    return {"policy": policy, "interval_wait": settings["account_interval_wait"]}


def _router(settings: Mapping[str, Any], endpoints: Endpoints, models: ModelTable, tips: ConversationMemory,
            on_rotated: RotationHook) -> UpstreamRouter:
    timeouts = {"connect_timeout": settings["upstream_connect_timeout"],
                "read_timeout": settings["upstream_read_timeout"]}
    attachments = {"max_upload_bytes": int(settings["max_upload_mb"] * 1024 * 1024),
                   "allow_private_urls": settings["allow_private_urls"],
                   "parse_timeout": settings["upload_parse_timeout"],
                   "max_attachments": settings["max_attachments"],
                   "max_attachments_bytes": int(settings["max_attachments_mb"] * 1024 * 1024)}
    connect = KimiClient(endpoints=endpoints, models=models, conversations=tips,
                         max_frame_bytes=int(settings["max_frame_mb"] * 1024 * 1024),
                         prompt_as_file_bytes=int(settings["prompt_as_file_kb"] * 1024), **attachments, **timeouts)
    legacy = LegacyClient(endpoints=endpoints, models=models, on_rotated=on_rotated, **attachments, **timeouts)
    return UpstreamRouter(connect, legacy)


def _login_throttle(store: Store, settings: Mapping[str, Any]) -> LoginThrottle:
    return LoginThrottle(store, free_failures=settings["admin_login_max_failures"],
                         max_delay=settings["admin_login_max_delay"], ceiling=settings["admin_login_ceiling_per_hour"],
                         max_wait=settings["admin_login_max_wait"])


def _say_who_is_served(keyring: Keyring) -> None:
    if keyring.lends_keyless():
        log.warning("No proxy API key exists yet: callers on this machine (loopback, through no proxy) are "
                    "served with the saved Kimi accounts without a key. Create a key on /auth, or set "
                    "LEND_WITHOUT_KEY=false to always require one.")
    else:
        log.info("The saved Kimi accounts are lent only to callers with a proxy API key.")


def _admin_password(store: Store, settings: Mapping[str, Any]) -> str:
    if settings["admin_password"]:
        return settings["admin_password"]
    password, created = store.ensure_secret(
        "admin_password", lambda: "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(20)))
    if created:  # one worker wins the creation, so this is printed once per deployment
        log.warning("ADMIN_PASSWORD is not set, so an admin password was generated and stored: %s  "
                    "Open http://localhost:%s/auth (or this server's public URL + /auth) and log in with it. "
                    "Set ADMIN_PASSWORD to choose your own.", password, settings["port"])
    return password
