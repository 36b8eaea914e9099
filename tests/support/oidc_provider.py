"""A real OpenID Provider process on loopback (npm ``oidc-provider`` under Node) for SSO tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.support.processes import eventually, running

ROOT = Path(__file__).parents[2]
SCRIPT = Path(__file__).parent / "oidc" / "provider.mjs"
INSTALLER = ROOT / "deploy" / "oidc-provider.sh"


def install() -> Path:
    """deploy/oidc-provider.sh install (idempotent) and where it put the package."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise FileNotFoundError("node and npm are needed for the OpenID Provider")
    subprocess.run([str(INSTALLER), "install"], check=True, timeout=300, capture_output=True)
    return Path(
        subprocess.run([str(INSTALLER), "path"], check=True, capture_output=True, text=True).stdout.strip()
    )


@contextmanager
def provider(
    port: int,
    clients: Sequence[Mapping[str, Any]],
    accounts: Mapping[str, Mapping[str, str]],
    workdir: Path,
    log: Path,
) -> Iterator[str]:
    """Run the provider on 127.0.0.1:``port`` until the block ends; yields its issuer URL."""
    issuer = f"http://127.0.0.1:{port}"
    config = workdir / "oidc-provider.json"
    config.write_text(
        json.dumps({"port": port, "issuer": issuer, "clients": list(clients), "accounts": accounts})
    )
    with running(["node", str(SCRIPT), str(install()), str(config)], {}, log):
        eventually(lambda: _up(issuer), timeout=30, what=f"the OpenID Provider at {issuer} (log {log})")
        yield issuer


def _up(issuer: str) -> bool:
    try:
        return requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2).ok
    except requests.RequestException:
        return False
