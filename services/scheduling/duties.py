"""The worker's periodic duties: lapse offers, extend the horizon, fill free slots, publish pressure;
and, on a faster loop of its own, the single writer of the pressure counts (which also puts back
a priority raise that a concurrent write lost, HZ-15)."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.scheduling import (
    calendar_ops,
    claims,
    entries,
    offers,
    orphans,
    pressure_counts,
    pressure_ops,
    raises,
    repository,
    responses,
    walks,
)
from services.scheduling.context import Scheduling
from shared import store

log = logging.getLogger(__name__)


def tick(ctx: Scheduling) -> dict[str, int]:
    """One pass of every duty; safe to run at any time and from more than one process."""
    done = {"expired": responses.expire_due(ctx), "orphans": orphans.release_orphans(ctx)}
    last = (ctx.db.meta.find_one({"_id": "materialise"}) or {}).get("at")
    if (
        last is None
        or repository.aware(last) + timedelta(seconds=ctx.config.materialise_every_s) <= ctx.now()
    ):
        done["slots"] = calendar_ops.materialise(ctx)
    done["offers"] = offers.fill_open_slots(ctx)
    done["pressure_changes"] = pressure_ops.publish_changes(ctx)
    return done


def run(ctx: Scheduling, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            tick(ctx)
        except Exception:
            log.exception("scheduling duty failed; retrying next tick")
        stop.wait(ctx.config.tick_s)


LEASE_S = 60
REPAIRED = "pressure_repair"
RAISES_EVERY = timedelta(seconds=30)
"""How often the lease holder puts back a raise another write lost (services/scheduling/raises.py)."""


@dataclass
class Lease:
    """Who may write the pressure counts this minute: the claim ``pressure-writer:<minute>``.

    The counts need one writer (services/scheduling/pressure_counts.py). The stack runs one
    scheduling worker; the lease keeps a second one (or an embedded platform beside it)
    from writing too. Windows come from each process's clock, so two processes with skewed
    clocks can overlap around a handover; the repair puts any double fold right.
    """

    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    window: int | None = None
    raises_at: datetime | None = None
    """When this holder last ran the lost-raise repair (HZ-15), every ``RAISES_EVERY``."""

    def held(self, ctx: Scheduling) -> bool:
        window = int(ctx.now().timestamp() // LEASE_S)
        if window == self.window:
            return True
        key = f"pressure-writer:{window}"
        if claims.try_take(ctx, key, self.owner) or claims.owner_of(ctx, key) == self.owner:
            stale = {window - 1, self.window} - {None}  # the handover's, and the last one this writer held
            ctx.db.claims.delete_many({"_id": {"$in": [f"pressure-writer:{w}" for w in stale]}})
            self.window = window
            return True
        return False


def count_step(ctx: Scheduling, lease: Lease) -> dict[str, int] | None:
    """One pass of the counts' single writer: fold the journal; repair when due. None without the lease."""
    if not lease.held(ctx):
        return None
    done = {"moves": pressure_counts.apply(ctx.db)}
    if lease.raises_at is None or lease.raises_at + RAISES_EVERY <= ctx.now():
        done["raises"] = raises.repair(ctx)
        lease.raises_at = ctx.now()
    last = (ctx.db.meta.find_one({"_id": REPAIRED}) or {}).get("at")
    if last is None or repository.aware(last) + timedelta(seconds=ctx.config.pressure_repair_s) <= ctx.now():
        done["backfilled"] = entries.backfill(ctx) + calendar_ops.backfill_weeks(ctx)
        done["walks"] = walks.repair(ctx.db, ctx.now())["listed"]
        done["repaired"] = pressure_counts.repair(ctx.db)
        store.upsert(ctx.db.meta, REPAIRED, {"$set": {"at": ctx.now()}})
    return done


def run_counts(ctx: Scheduling, stop: threading.Event) -> None:
    """The worker's counts loop (a background thread of its own, every ``pressure_apply_s``)."""
    lease = Lease()
    while not stop.is_set():
        try:
            count_step(ctx, lease)
        except Exception:
            log.exception("pressure counts pass failed; retrying")
        stop.wait(ctx.config.pressure_apply_s)
