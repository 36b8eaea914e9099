"""How instruments and triage records are shown over HTTP: licensed item text is withheld here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.assessment.domain.instruments import Instrument


def instrument(item: Instrument, licensed: frozenset[str], detail: bool) -> dict[str, Any]:
    """An instrument's public form; item text and stem only when free or licensed."""
    usable = not item.requires_licence or item.id in licensed
    body: dict[str, Any] = {
        "id": item.id,
        "version": item.version,
        "name": item.name,
        "informants": list(item.informants),
        "licence": dict(item.licence),
        "licensed": usable,
        "text_withheld": not usable,
        "item_count": len(item.items),
        "subscales": [s.code for s in item.subscales],
    }
    if not detail:
        return body
    body.update(
        stem=item.stem if usable else None,
        scales={
            name: [{"value": v, "label": label} for v, label in options.items()]
            for name, options in item.scales.items()
        },
        items=[
            {
                "id": i.id,
                "scale": i.scale,
                "required": i.required,
                "reverse": i.reverse,
                "text": i.text if usable else None,
            }
            for i in item.items
        ],
        scoring=[{"code": s.code, "items": list(s.items), "method": s.method} for s in item.subscales],
        cutoffs={
            scale: {who: [[b.low, b.high, b.label] for b in bands] for who, bands in by.items()}
            for scale, by in item.cutoffs.items()
        },
        flags=[{"code": f.code, "escalate": f.escalate} for f in item.flags],
        notes=item.notes,
    )
    return body


def queue_item(doc: Mapping[str, Any]) -> dict[str, Any]:
    target = date.fromisoformat(doc["referred_on"]) + timedelta(days=int(doc["target_days"]))
    return {**doc, "target_date": target.isoformat()}


def with_iso_times(value: Any) -> Any:
    """Datetimes (as the store returns them) as ISO 8601 UTC strings, anywhere in ``value``."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {k: with_iso_times(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [with_iso_times(v) for v in value]
    return value
