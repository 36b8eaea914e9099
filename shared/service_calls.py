"""One service asking another for a document over HTTP, with its own service token.

The answer has three outcomes a caller must tell apart: the document, "there is no such
thing" (404/410: None), and "cannot say right now" (any other status, a timeout, a refused
connection, a body that is not JSON: the caller's ``unavailable`` exception, which consumers
retry like a store outage rather than dead-letter).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

GONE = (404, 410)


def get_json(url: str, token: str, timeout_s: float, owner: str, unavailable: type[Exception]) -> Any:
    """The JSON body at ``url``; None when ``owner`` says it does not exist; ``unavailable`` if unsure."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code in GONE:
            return None
        raise unavailable(f"{owner} answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise unavailable(f"{owner} unreachable: {type(exc).__name__}") from None
