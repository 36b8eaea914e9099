"""One open offer per family: every offer takes its entry's next round claim, a unique insert.

FerretDB 1.x cannot decide ``waiting → offered`` with a conditional update (several
concurrent makers all "win"), so the decision is the claim ``round:<case>:<n>``
(owner = the offer id), inserted once. Round ``n + 1`` may be taken only after round
``n``'s offer has its one answer, the claim ``offer:<offer id>`` (accepted, declined,
expired, withdrawn, void, abandoned; answers are never deleted). By induction every
earlier offer is answered whenever a round is taken, so at most one offer per family is
open at any time, whatever the entry document says: its ``state``/``offer_id``/
``offer_round`` fields are only the readable view, written by the round's winner.

Crash windows: a maker that dies after taking a round but before inserting its offer
leaves the round open with no offer; after ``ABANDON_AFTER`` the next maker (or the
orphan duty) answers it ``abandoned`` and carries on. A maker slower than that is
assumed dead, the same assumption as the slot orphans in ``orphans.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.scheduling import claims
from services.scheduling import repository as repo
from services.scheduling.context import Conflict, Scheduling

KIND = "offer_round"
ABANDON_AFTER = timedelta(minutes=5)
SURELY_ALIVE = ABANDON_AFTER / 2
"""A maker this soon after taking its round cannot have been judged abandoned (see ``abandoned``):
half of ``ABANDON_AFTER`` (and of the orphan duty's age) leaves the other half for clock skew
between processes."""


def key(case_id: str, n: int) -> str:
    return f"round:{case_id}:{n}"


def latest(ctx: Scheduling, case_id: str) -> dict[str, Any] | None:
    return ctx.db.claims.find_one({"kind": KIND, "case_id": case_id}, sort=[("round", -1)])


def answered(ctx: Scheduling, offer_id: str) -> bool:
    return claims.owner_of(ctx, f"offer:{offer_id}") is not None


def close(ctx: Scheduling, offer_id: str, answer: str) -> None:
    """Give the round's offer its answer (no-op if it already has one): the next round may start."""
    claims.try_take(ctx, f"offer:{offer_id}", answer)


def next_round(ctx: Scheduling, case_id: str) -> int | None:
    """The round a new offer to this family would take, or None while its last offer is open."""
    last = latest(ctx, case_id)
    if last is None:
        return 0
    if answered(ctx, last["owner"]):
        return int(last["round"]) + 1
    if repo.aware(last["at"]) <= ctx.now() - ABANDON_AFTER and (
        ctx.db.offers.find_one({"_id": last["owner"]}, {"_id": 1}) is None
    ):
        close(ctx, last["owner"], "abandoned")
        return int(last["round"]) + 1
    return None


def abandoned(ctx: Scheduling, offer_id: str, taken_at: datetime) -> bool:
    """Whether this maker's round was answered ``abandoned`` behind its back (it was too slow).

    Only a round older than ``ABANDON_AFTER`` (``next_round``), or a held slot older than the
    orphan duty's age, is ever answered so; both count from ``taken_at``. A maker still within
    ``SURELY_ALIVE`` of it skips the read: the usual offer costs one round trip fewer.
    """
    if ctx.now() - taken_at < SURELY_ALIVE:
        return False
    return claims.owner_of(ctx, f"offer:{offer_id}") == "abandoned"


def take(ctx: Scheduling, case_id: str, n: int, offer_id: str) -> bool:
    """Round ``n`` of this family for ``offer_id``; False when another maker has it."""
    try:
        claims.take(ctx, key(case_id, n), offer_id, "", kind=KIND, case_id=case_id, round=n)
    except Conflict:
        return False
    return True
