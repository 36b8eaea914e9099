"""A small JSON-over-HTTP client for the command line and the demo (the runtime needs no HTTP library)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class CallFailed(RuntimeError):
    def __init__(self, status: int, body: Any, url: str) -> None:
        super().__init__(f"{url} answered {status}: {json.dumps(body)[:500]}")
        self.status, self.body = status, body


def call(
    method: str, url: str, token: str | None = None, body: Any = None, **headers: str
) -> tuple[int, Any]:
    """(status, parsed JSON body); network failures answer 503 with the reason."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, {"error": raw.decode("utf-8", "replace")[:500]}
    except urllib.error.URLError as exc:
        return 503, {"error": f"unreachable: {exc.reason}"}


def ok(method: str, url: str, token: str | None = None, body: Any = None, **headers: str) -> Any:
    """Like :func:`call`, raising :class:`CallFailed` unless the answer is 2xx."""
    status, answer = call(method, url, token, body, **headers)
    if not 200 <= status < 300:
        raise CallFailed(status, answer, url)
    return answer
