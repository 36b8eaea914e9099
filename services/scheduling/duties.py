"""The worker's periodic duty: lapse offers, extend the horizon, fill free slots, publish and repair pressure."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from services.scheduling import (
    calendar_ops,
    claims,
    entries,
    offers,
    orphans,
    pressure_counts,
    pressure_ops,
    repository,
    responses,
)
from services.scheduling.context import Scheduling

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
    repaired = repair_pressure(ctx)
    if repaired is not None:
        done["pressure_repaired"] = repaired
    return done


def repair_pressure(ctx: Scheduling) -> int | None:
    """The exact recount of the pressure counts, once per ``pressure_repair_s`` across all processes.

    A claim per interval picks the one process that repairs (two repairs at once would both
    apply the same correction); None when another process has this interval.
    """
    interval = int(ctx.now().timestamp() // ctx.config.pressure_repair_s)
    if not claims.try_take(ctx, f"pressure-repair:{interval}", "duty"):
        return None
    ctx.db.claims.delete_one({"_id": f"pressure-repair:{interval - 1}"})
    entries.backfill(ctx)
    return pressure_counts.repair(ctx.db)


def run(ctx: Scheduling, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            tick(ctx)
        except Exception:
            log.exception("scheduling duty failed; retrying next tick")
        stop.wait(ctx.config.tick_s)
