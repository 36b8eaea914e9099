"""The CloudEvents 1.0 envelope and its Kafka binding — the one place that knows the wire format.

On Kafka we use the binary content mode: attributes travel as ``ce_*`` headers, the
record key is the subject (the case id, so one case's events stay ordered on one
partition) and the value is the JSON ``data``. In the outbox and the in-process bus
we keep the structured form (:meth:`Event.to_dict`). See docs/adr/0002-event-envelope.md.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import context

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PREFIX = "org.waymark."

Headers = list[tuple[str, bytes]]


class EnvelopeError(ValueError):
    """A record that is not a valid Waymark CloudEvent; it goes to the dead-letter topic."""


def event_type(name: str, version: int = 1) -> str:
    """``referral.submitted`` → ``org.waymark.referral.submitted.v1``."""
    return f"{TYPE_PREFIX}{name}.v{version}"


def short_name(type_: str) -> str:
    """``org.waymark.referral.submitted.v1`` → ``referral.submitted``."""
    name = type_.removeprefix(TYPE_PREFIX)
    head, _, tail = name.rpartition(".")
    return head if tail.startswith("v") and tail[1:].isdigit() else name


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    type: str
    source: str
    subject: str
    data: Mapping[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: str = field(default_factory=_now)
    correlation_id: str = field(default_factory=context.current_or_new)

    @property
    def name(self) -> str:
        return short_name(self.type)

    @property
    def dedupe_key(self) -> str:
        """Consumers dedupe on (source, id): ids are unique per producer."""
        return f"{self.source}:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time,
            "datacontenttype": CONTENT_TYPE,
            "correlationid": self.correlation_id,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Event:
        try:
            if doc.get("specversion") != SPEC_VERSION:
                raise EnvelopeError(f"unsupported specversion {doc.get('specversion')!r}")
            data = doc["data"]
            if not isinstance(data, Mapping):
                raise EnvelopeError("data must be a JSON object")
            return cls(
                type=_required(doc, "type"),
                source=_required(doc, "source"),
                subject=_required(doc, "subject"),
                id=_required(doc, "id"),
                time=_required(doc, "time"),
                correlation_id=str(doc.get("correlationid") or doc["id"]),
                data=data,
            )
        except KeyError as missing:
            raise EnvelopeError(f"missing attribute {missing}") from None


def _required(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise EnvelopeError(f"attribute {key!r} must be a non-empty string")
    return value


_HEADER_ATTRS = ("id", "source", "type", "subject", "time", "specversion", "correlationid")


def to_kafka(event: Event) -> tuple[bytes, bytes, Headers]:
    """Binary content mode: (key, value, headers)."""
    doc = event.to_dict()
    headers: Headers = [(f"ce_{attr}", str(doc[attr]).encode()) for attr in _HEADER_ATTRS]
    headers.append(("content-type", CONTENT_TYPE.encode()))
    value = json.dumps(doc["data"], separators=(",", ":"), ensure_ascii=False).encode()
    return event.subject.encode(), value, headers


def from_kafka(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> Event:
    attrs = {k[3:]: v.decode("utf-8", "replace") for k, v in headers if k.startswith("ce_")}
    if not attrs:
        raise EnvelopeError("no ce_* headers: not a CloudEvent in binary mode")
    try:
        attrs["data"] = json.loads(value or b"")
    except ValueError as exc:
        raise EnvelopeError(f"data is not JSON: {exc}") from None
    return Event.from_dict(attrs)
