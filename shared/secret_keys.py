"""Secrets and keys that must never be the public development defaults outside the embedded demo.

The repository ships development values so ``waymark run`` works with no setup; they are
public, so anyone could mint operator tokens, forge offer links or decrypt stored personal
data with them. A process in kafka mode (every real deployment, ``make stack``) refuses to
start when a secret is missing, is one of these defaults, or is too short, and the error
names the variable. ``python -m shared.secret_keys generate FILE`` writes a fresh set once
(mode 600) for ``deploy/stack.sh``; rotation is in docs/runbooks/secrets.md.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path

DEV_STAFF_TOKEN_SECRET = "waymark-development-secret-change-me"
DEV_DATA_KEY = "bbRTMY-2ztNqkYmrH9AtfEJ1jrhvtFwFW2TgJbW-k-E="
DEV_INDEX_KEY = "waymark-referral-development-blind-index-key"
DEV_OFFER_SECRET = "waymark-scheduling-development-offer-secret"

PUBLIC_DEFAULTS = frozenset({DEV_STAFF_TOKEN_SECRET, DEV_DATA_KEY, DEV_INDEX_KEY, DEV_OFFER_SECRET})
"""Every value that has ever been committed as a default; never accepted outside embedded mode."""

MIN_SECRET_CHARS = 32
"""An HMAC secret shorter than this is refused (32 random URL-safe characters ≈ 190 bits)."""

REQUIRED = (
    "WAYMARK_STAFF_TOKEN_SECRET",
    "REFERRAL_DATA_KEYS",
    "REFERRAL_INDEX_KEY",
    "SCHEDULING_OFFER_SECRET",
)
"""What ``generate`` writes and ``deploy/stack.sh`` exports to every process."""


class MissingSecret(ValueError):
    """A required secret is missing, a public default, or too weak; the message names the variable."""


def require(name: str, value: str | None, *, min_chars: int = MIN_SECRET_CHARS) -> str:
    """``value`` if it is a usable secret for ``name``; otherwise :class:`MissingSecret`."""
    value = (value or "").strip()
    if not value:
        raise MissingSecret(
            f"{name} is not set; kafka mode needs a per-install secret (docs/runbooks/secrets.md)"
        )
    if value in PUBLIC_DEFAULTS:
        raise MissingSecret(
            f"{name} is a public development default; set a per-install secret (docs/runbooks/secrets.md)"
        )
    if len(value) < min_chars:
        raise MissingSecret(
            f"{name} is shorter than {min_chars} characters; generate a random one (docs/runbooks/secrets.md)"
        )
    return value


def require_all(name: str, values: Iterable[str], *, min_chars: int = MIN_SECRET_CHARS) -> list[str]:
    """A comma-separated key list (rotation: the first is current): each key checked, at least one."""
    keys = [v.strip() for v in values if v.strip()]
    if not keys:
        require(name, None)
    return [require(name, key, min_chars=min_chars) for key in keys]


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def generate() -> dict[str, str]:
    """A fresh set of every required secret."""
    return {
        "WAYMARK_STAFF_TOKEN_SECRET": secrets.token_urlsafe(48),
        "REFERRAL_DATA_KEYS": fernet_key(),
        "REFERRAL_INDEX_KEY": secrets.token_urlsafe(48),
        "SCHEDULING_OFFER_SECRET": secrets.token_urlsafe(48),
    }


def write_once(path: Path) -> bool:
    """Create ``path`` (mode 600) with fresh secrets unless it exists; True if it was created.

    Existing files are never rewritten: a new data key would make stored personal data
    unreadable, a new staff secret would log everyone out.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{name}={value}\n" for name, value in generate().items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Waymark per-install secrets; see docs/runbooks/secrets.md before changing any.\n")
        out.write(lines)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "generate":
        print("usage: python -m shared.secret_keys generate FILE", file=sys.stderr)
        return 2
    path = Path(argv[1])
    print(f"{'created' if write_once(path) else 'kept'} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
