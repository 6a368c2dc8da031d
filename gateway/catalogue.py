"""Each account's live model catalogue, kept for `model_catalogue_ttl` seconds and refreshed in the
background: a model list or a chat never waits on Kimi for it (the model table serves until it is in).
Built once by gateway/services.py; kimi/catalogue.py makes the call and reads the answer."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Iterable, Optional

from gateway import accounts
from gateway.access import token_ref
from kimi import tokens
from kimi.catalogue import Catalogue, CatalogueClient, membership_of, read_catalogue
from kimi.errors import KimiError, PaymentRequired
from kimi.models import ModelSpec, ModelTable

log = logging.getLogger(__name__)

RETRY_SECONDS = 30  # after a failed call, the next try waits this long (Kimi may be down for everyone)


class ModelCatalogue:
    """Catalogues by Kimi user (a pool account's access token changes every 15 minutes; its user does
    not). Holds at most `max_accounts` of them and runs at most `max_fetches` calls at once, since any
    caller may present a token of its own before Kimi has said whether it is valid."""

    def __init__(self, client: CatalogueClient, models: ModelTable, ttl: float,
                 max_accounts: int = 1000, max_fetches: int = 4):
        self.client, self.models, self.ttl = client, models, ttl
        self.max_accounts, self.max_fetches = max_accounts, max_fetches
        self._kept: OrderedDict[str, tuple[float, Optional[Catalogue]]] = OrderedDict()  # user -> (due, catalogue)
        self._fetching: set[str] = set()
        self._lock = threading.Lock()

    def catalogue(self, credential: tokens.Credential) -> Optional[Catalogue]:
        """The account's catalogue as kept now (None until the first call answers); a missing or
        stale one is fetched in the background."""
        if not self.ttl or not credential.is_connect or tokens.is_expired(credential.claims):
            return None  # Kimi would refuse the call: not worth one
        user = _user(credential)
        with self._lock:
            due, kept = self._kept.get(user, (0.0, None))
            if time.monotonic() >= due and user not in self._fetching and len(self._fetching) < self.max_fetches:
                self._fetching.add(user)
                threading.Thread(target=self._refresh, args=(user, credential), daemon=True).start()
        return kept

    def spec_for(self, credential: tokens.Credential, model_id: str) -> Optional[ModelSpec]:
        """The account's catalogue entry for `model_id` (or for the table model it names); None: the
        model table decides. PaymentRequired for a model the account's membership cannot use."""
        kept = self.catalogue(credential)
        if kept is None:
            return None
        if model_id in kept.locked:
            raise PaymentRequired(f"The model `{model_id}` needs a Kimi membership of {kept.locked[model_id]} "
                                  f"or higher.", code="membership_required", param="model")
        return kept.specs.get(model_id) or kept.specs.get(self.models.resolve(model_id).id)

    def listed(self, credentials: Iterable[tokens.Credential]) -> list[ModelSpec]:
        """The model table's models and every model the accounts' catalogues add, without those
        none of them may use."""
        added: dict[str, ModelSpec] = {}
        locked: set[str] = set()
        for kept in filter(None, map(self.catalogue, credentials)):
            locked.update(kept.locked)
            for model_id, spec in kept.specs.items():
                added.setdefault(model_id, spec)
        listed = {spec.id: spec for spec in self.models}
        listed.update(added)
        return [spec for model_id, spec in listed.items() if model_id in added or model_id not in locked]

    def _refresh(self, user: str, credential: tokens.Credential) -> None:
        try:
            kept = read_catalogue(self.client.fetch(credential.token), membership_of(credential.claims))
            due = time.monotonic() + self.ttl
        except KimiError as err:
            # INFO: the model table serves meanwhile, and a refused token is reported where it is lent.
            log.info("could not read the model catalogue of a Kimi account (%s); the model table serves",
                     err.code or type(err).__name__)
            kept, due = None, time.monotonic() + RETRY_SECONDS
        except Exception:  # a bug must not end the worker's background greenlet silently
            log.exception("reading a model catalogue failed")
            kept, due = None, time.monotonic() + RETRY_SECONDS
        with self._lock:
            self._fetching.discard(user)
            previous = self._kept.pop(user, (0.0, None))[1]
            self._kept[user] = (due, kept or previous)  # a failed refresh keeps the last good catalogue
            while len(self._kept) > self.max_accounts:
                self._kept.popitem(last=False)


def pool_credentials(records: dict) -> list[tokens.Credential]:
    """The Connect credentials of the saved accounts that are not rejected (for a proxy-key model list)."""
    lent = (accounts.lent_token(record) for record in records.values()
            if isinstance(record, dict) and not record.get("rejected") and not accounts.is_legacy(record))
    return [tokens.credential(token) for token in lent if token]


def _user(credential: tokens.Credential) -> str:
    return str((credential.claims or {}).get("sub") or token_ref(credential.token))
