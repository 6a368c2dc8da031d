"""The request log the owner's console lists: one row per API request (gateway/usage.py RequestEntry), kept
REQUEST_LOG_DAYS in the store and written in batches by the usage flusher (gateway/usage_book.py)."""
from __future__ import annotations

import json
import time
from dataclasses import fields
from typing import Callable, Iterable, Optional, Union

from gateway.store import Store
from gateway.usage import RequestEntry

LOG_NAME = "requests"
# Rows read when filters may pass over many: the console lists the newest matches among these.
MAX_SCANNED = 20000
_FIELDS = tuple(field.name for field in fields(RequestEntry))  # in declaration order, for stable rows


class RequestLog:
    def __init__(self, store: Store, keep_days: float, max_rows: int = 0, clock: Callable[[], float] = time.time):
        self.store, self.clock = store, clock
        self.keep_seconds = keep_days * 86400
        # Strangers' refused requests are logged too: however many come, the log stays this size.
        self.max_rows = max_rows

    def write(self, entries: Iterable[RequestEntry]) -> None:
        """Append the entries in one store call (StoreUnavailable when the store cannot be reached)."""
        self.store.append_rows(LOG_NAME, [(entry.at, encode_entry(entry)) for entry in entries], self.keep_seconds,
                               self.max_rows)

    def entries(self, key: Optional[str] = None, account: Optional[str] = None,
                status: Union[int, str, None] = None, model: Optional[str] = None,
                limit: int = 200) -> list[RequestEntry]:
        """The newest entries within REQUEST_LOG_DAYS that match every filter given, newest first.
        `status`: a code (429) or a class ("4xx"); `model`: the model asked for or the one that served."""
        wanted = [test for test in (_by_key(key), _by_account(account), _by_status(status), _by_model(model))
                  if test is not None]
        since = self.clock() - self.keep_seconds
        rows = self.store.read_rows(LOG_NAME, since, MAX_SCANNED if wanted else limit)
        found = []
        for _, row in rows:
            entry = decode_entry(row)
            if all(test(entry) for test in wanted):
                found.append(entry)
                if len(found) == limit:
                    break
        return found


def encode_entry(entry: RequestEntry) -> str:
    # The fields read directly: an entry holds only flat values, and asdict()'s deep copy cost ~4x as much.
    kept = {name: value for name in _FIELDS if (value := getattr(entry, name)) is not None}
    return json.dumps(kept, separators=(",", ":"), ensure_ascii=False)


def decode_entry(row: str) -> RequestEntry:
    # Fields a newer version added and this one does not know are left out.
    return RequestEntry(**{name: value for name, value in json.loads(row).items() if name in _FIELDS})


Test = Callable[[RequestEntry], bool]


def _by_key(key: Optional[str]) -> Optional[Test]:
    return None if key is None else (lambda entry: entry.key_id == key)


def _by_account(account: Optional[str]) -> Optional[Test]:
    return None if account is None else (lambda entry: entry.account == account)


def _by_model(model: Optional[str]) -> Optional[Test]:
    return None if model is None else (lambda entry: model in (entry.model_asked, entry.model_served))


def _by_status(status: Union[int, str, None]) -> Optional[Test]:
    if status is None:
        return None
    wanted = str(status).lower()
    if len(wanted) == 3 and wanted.endswith("xx"):  # a class: "4xx"
        return lambda entry: str(entry.status)[0] == wanted[0]
    return lambda entry: str(entry.status) == wanted
