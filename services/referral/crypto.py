"""Field-by-field encryption at rest, and the blind index that finds a child without plaintext.

Each personal field is its own Fernet token (AES-128-CBC + HMAC-SHA256, timestamped), so a
leaked document, backup or log line shows no name, date of birth, phone or email, and a
key can be rotated one field at a time. Keys come from ``REFERRAL_DATA_KEYS``
(comma-separated, the first encrypts, all decrypt: MultiFernet), which is how rotation
works (docs/services/referral.md). The blind index is an HMAC of the normalised name and
date of birth under a separate key, so duplicate referrals are found by equality.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.secret_keys import DEV_DATA_KEY, DEV_INDEX_KEY, MissingSecret, require, require_all
from shared.settings import Settings

SEALED_PATHS: tuple[tuple[str, ...], ...] = (
    ("student", "name"),
    ("student", "date_of_birth"),
    ("student", "sex"),
    ("guardians", "*", "name"),
    ("guardians", "*", "phone"),
    ("guardians", "*", "email"),
    ("school_actions", "details"),
    ("note",),
)
"""Where personal data lives in a stored referral; everything else is codes, counts and dates."""


class FieldCipher:
    def __init__(self, data_keys: Sequence[str], index_key: str) -> None:
        if not data_keys:
            raise ValueError("at least one data key is required")
        self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in data_keys])
        self._index_key = index_key.encode()

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldCipher:
        """The configured keys; the public development keys only in the embedded demo."""
        if settings.embedded:
            keys = [k for k in settings.extra.get("REFERRAL_DATA_KEYS", DEV_DATA_KEY).split(",") if k.strip()]
            return cls(keys, settings.extra.get("REFERRAL_INDEX_KEY", DEV_INDEX_KEY))
        # A Fernet key is 44 characters of base64; the blind-index key is an HMAC secret.
        keys = require_all(
            "REFERRAL_DATA_KEYS", settings.extra.get("REFERRAL_DATA_KEYS", "").split(","), min_chars=44
        )
        index_key = require("REFERRAL_INDEX_KEY", settings.extra.get("REFERRAL_INDEX_KEY"))
        try:
            return cls(keys, index_key)
        except ValueError as exc:
            raise MissingSecret(f"REFERRAL_DATA_KEYS holds a key that is not a Fernet key: {exc}") from None

    def encrypt(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()

    def decrypt(self, token: str) -> Any:
        return json.loads(self._fernet.decrypt(token.encode()))

    def rotate(self, token: str) -> str:
        """Re-encrypt under the current (first) key; raises InvalidToken if no key opens it."""
        return self._fernet.rotate(token.encode()).decode()

    def child_index(self, name: str, date_of_birth: str) -> str:
        """HMAC-SHA256 of the normalised name + date of birth: equal for the same child, opaque otherwise."""
        message = f"{normalise_name(name)}|{date_of_birth}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    def seal(self, referral: Mapping[str, Any]) -> dict[str, Any]:
        return _transform(referral, self.encrypt)

    def unseal(self, referral: Mapping[str, Any]) -> dict[str, Any]:
        return _transform(referral, self.decrypt)

    def reseal(self, referral: Mapping[str, Any]) -> dict[str, Any]:
        return _transform(referral, self.rotate)


def normalise_name(name: str) -> str:
    """Case, width, accents, spaces and punctuation do not make a different child."""
    folded = unicodedata.normalize("NFKD", name).casefold()
    stripped = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[\W_]+", "", stripped)


def _transform(doc: Mapping[str, Any], fn: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))  # a deep copy of JSON-shaped data
    for path in SEALED_PATHS:
        _apply(out, path, fn)
    return out


def _apply(node: Any, path: tuple[str, ...], fn: Any) -> None:
    head, rest = path[0], path[1:]
    if head == "*":
        for item in node if isinstance(node, list) else []:
            _apply(item, rest, fn)
        return
    if not isinstance(node, dict) or node.get(head) is None:
        return
    if rest:
        _apply(node[head], rest, fn)
    else:
        node[head] = fn(node[head])


__all__ = ["FieldCipher", "InvalidToken", "normalise_name"]
