"""Scheduling's responses are allow-lists: the public output is what the old deny-list gave,
less the walk tokens it leaked, and a field the store gains later never reaches a response."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from services.scheduling import calendar_ops, offers, repository
from tests.unit.scheduling.conftest import auth, triaged

# The filter routes used before the response schemas (services/scheduling/routes/common.py).
DENIED = {"outbox", "applied_events", "token_hash", "passed_by", "passed_slots", "sort_keys", "pressure_key"}
LEAKED = "walk_"  # the waitlist's index tokens, which the deny-list let through


def legacy(doc: dict[str, Any], app: Any) -> dict[str, Any]:
    """What the deny-list made of a stored document, as JSON, without the leaked walk tokens."""
    out = {
        ("id" if key == "_id" else key): repository.iso(value) if isinstance(value, datetime) else value
        for key, value in doc.items()
        if key not in DENIED and not key.startswith(LEAKED)
    }
    return json.loads(app.json.dumps(out))


def busy_region(service, ctx, db, clock, client) -> None:
    """Entries in several states, offers, an accepted booking, a cancellation and an attendance."""
    for case, band in (("c1", "P1"), ("c2", "P2"), ("c3", "P3"), ("c4", "P2")):
        service.handlers["assessment.triaged"](triaged(case, band))
    calendar_ops.materialise(ctx, days=42)
    for case in ("c1", "c2"):
        offer = db.offers.find_one({"case_id": case, "state": "pending"})
        if offer is not None:
            token = offers.token_for(ctx, offer["_id"])
            assert client.post(f"/v1/offer-responses/{token}/accept").status_code == 200
    booked = list(db.appointments.find({"state": "booked"}))
    assert booked, "the scenario needs a booking"
    client.post(
        f"/v1/appointments/{booked[-1]['_id']}/cancel",
        json={"reason": "family_request"},
        headers=auth(),
    )
    client.post("/v1/hospitals/a/holidays", json={"date": "2025-04-01"}, headers=auth())
    clock.advance(days=14)
    for appt in db.appointments.find({"state": "booked", "kind": "intake"}):
        client.post(
            f"/v1/appointments/{appt['_id']}/attendance", json={"outcome": "attended"}, headers=auth()
        )


def test_responses_keep_the_public_fields_and_drop_only_walk_tokens(service, ctx, small, db, clock, client):
    busy_region(service, ctx, db, clock, client)
    app = service.app
    compared = 0
    lists = {
        "/v1/waitlist?state=all&limit=500": db.waitlist,
        "/v1/offers?limit=1000": db.offers,
        "/v1/appointments?limit=1000": db.appointments,
        "/v1/slots?limit=1000": db.slots,
        "/v1/hospitals": db.hospitals,
        "/v1/hospitals/a/sessions": db.sessions,
    }
    for url, collection in lists.items():
        response = client.get(url, headers=auth())
        assert response.status_code == 200, url
        served = {item["id"]: item for item in response.json["items"]}
        stored = {doc["_id"]: doc for doc in collection.find({"_id": {"$in": list(served)}})}
        assert served and set(served) == set(stored), url
        for key, item in served.items():
            assert item == legacy(stored[key], app), (url, key)
            compared += 1
    for doc in db.waitlist.find():
        response = client.get(f"/v1/waitlist/{doc['_id']}", headers=auth())
        assert response.json == legacy(doc, app)
        assert any(k.startswith(LEAKED) for k in doc), "the stored entry has walk tokens to hide"
    for doc in db.appointments.find():
        assert client.get(f"/v1/appointments/{doc['_id']}", headers=auth()).json == legacy(doc, app)
    states = {d["state"] for d in db.appointments.find()} | {d["state"] for d in db.offers.find()}
    assert {"booked", "cancelled", "attended", "accepted"} <= states
    assert compared > 20


def test_a_field_the_store_gains_later_stays_internal(service, ctx, small, db, clock, client):
    busy_region(service, ctx, db, clock, client)
    for name in ("waitlist", "offers", "appointments", "slots", "hospitals", "sessions"):
        db[name].update_many({}, {"$set": {"internal_claim": "secret", "walk_new": "x"}})
    for url in ("/v1/waitlist?state=all", "/v1/offers", "/v1/appointments", "/v1/slots", "/v1/hospitals"):
        items = client.get(url, headers=auth()).json["items"]
        assert items and all("internal_claim" not in i and "walk_new" not in i for i in items), url
    entry = client.get("/v1/waitlist/c3", headers=auth()).json
    assert "internal_claim" not in entry and entry["id"] == "c3"
