"""Who is calling, remembered per worker for a short time so a request does not look its key up.

Every school request used to read ``school_keys`` first. Keys change rarely (issued and
revoked by operators), so each gunicorn worker remembers the answer for a key, valid or
not, for ``ttl_s`` seconds (REFERRAL_KEY_CACHE_S, default 30). The price: **a revoked key
keeps working for up to ``ttl_s`` seconds** on a worker that saw it just before (the
operator route that revokes it forgets it at once in its own process). ``ttl_s = 0``
turns the cache off. Unknown keys are remembered too, so a client hammering with a
revoked or mistyped key costs one lookup per worker per ``ttl_s``, not one per request.

Entries are keyed by the key's SHA-256, never the key itself; at most ``max_entries``
are kept (the oldest is dropped first), so random keys cannot grow memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from services.referral.keys import SchoolCaller, looks_like_a_key
from shared.auth import hash_key

MAX_ENTRIES = 10_000


class CallerCache:
    def __init__(
        self,
        lookup: Callable[[str], SchoolCaller | None],
        ttl_s: float,
        now: Callable[[], float],
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        """``lookup`` finds the caller by key hash (one store read); ``now`` is in seconds."""
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._now = now
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, SchoolCaller | None]] = OrderedDict()
        self._lock = threading.Lock()

    def caller(self, key: str) -> SchoolCaller | None:
        if not looks_like_a_key(key):
            return None
        digest = hash_key(key)
        now = self._now()
        with self._lock:
            cached = self._entries.get(digest)
            if cached is not None and cached[0] > now:
                return cached[1]
        found = self._lookup(digest)
        if self._ttl_s > 0:
            with self._lock:
                self._entries[digest] = (now + self._ttl_s, found)
                self._entries.move_to_end(digest)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return found

    def forget(self, key_id: str) -> None:
        """Drop a key this process remembers (its revocation was just made here)."""
        with self._lock:
            for digest, (_, found) in list(self._entries.items()):
                if found is not None and found.key_id == key_id:
                    del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)
