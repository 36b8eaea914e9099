"""The correlation id that follows one case through every service.

HTTP requests take it from ``X-Correlation-Id`` (or mint one); consumers take it from
the event they handle, so any event a handler emits carries it on.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Correlation-Id"

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def current() -> str | None:
    return _correlation_id.get()


def current_or_new() -> str:
    return _correlation_id.get() or new_id()


@contextmanager
def bound(correlation_id: str | None) -> Iterator[str]:
    """Bind a correlation id for the duration of a block (a request, an event)."""
    value = correlation_id or new_id()
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)
