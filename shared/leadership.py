"""Which of a service's worker processes runs its duties: a lease made only of unique-key inserts.

Several worker processes of one service consume the same topics (the group shares the
partitions), but the periodic duties — the outbox sweeper, housekeeping, a service's own
``Service.background`` loops (reminders, offers, worklists) — would each run once per process.
They stay correct under that (every effect is claimed on a unique key), yet the work is
duplicated. So one process at a time *leads* and runs them; the others only consume.

FerretDB 1.x has no transactions, no TTL, and its updates are read-modify-write (a conditional
update can have several winners); only an insert on a unique key is atomic. So the lease is
**time-slotted claims**: time is cut into slots of ``term_s`` seconds (slot ``k`` =
``floor(now / term_s)``), and leading slot ``k`` means having inserted the document
``_id = "<service>:<k>"`` in ``duty_leases`` — of any number of processes racing to insert it,
exactly one succeeds. A process leads while it holds the current slot.

- The holder claims slot ``k+1`` ahead of time, in the last ``margin`` of slot ``k``, so its
  leadership is continuous; the others try to insert the *current* slot on every check, which
  fails while the leader is alive.
- A killed holder claims nothing more: when the slots it holds run out, the others race for the
  current one and one wins. Takeover comes at most ``term_s + margin + check`` after the death
  (the claimed-ahead slot must run out first). A worker that stops cleanly deletes its current
  and claimed-ahead slots, so another takes over at its next check.
- A holder believes it leads only until the end of the last slot it holds (its wait is cut to
  that instant), not until its next check; so two processes never both believe they lead
  except for clock skew and thread scheduling latency at a slot boundary. The assumption:
  the processes share one clock (one machine, or hosts kept in step by NTP to well under a
  check interval). Were that violated, or a process paused inside a duty pass past its slot,
  two passes could overlap briefly — the duties stay correct under overlap, because every
  effect they write is claimed on a unique key; the lease only removes the duplicated work.
- A store outage: a holder keeps leading until the slots it already holds run out, then stops;
  no one can claim while the store is down.
- Old slots are pruned by the leader (everything older than the previous slot) each time it
  claims ahead, so the collection holds a handful of documents per service.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared import metrics

log = logging.getLogger(__name__)

COLLECTION = "duty_leases"
DEFAULT_TERM_S = 15.0


def process_holder() -> str:
    """A holder id unique to this process (and to this lease within it: two workers in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def check_interval(term_s: float) -> float:
    """How often a process checks the lease: a fifteenth of the term, between 50 ms and 1 s."""
    return min(1.0, max(0.05, term_s / 15))


@dataclass(frozen=True)
class Standing:
    """The outcome of one check: whether this process leads now, and until when (epoch seconds) at most."""

    leading: bool
    until: float


class DutyLease:
    """One process's side of a service's duty lease; :meth:`check` is called every ``check_s``."""

    def __init__(
        self,
        db: Database,
        service: str,
        term_s: float = DEFAULT_TERM_S,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
        check_s: float | None = None,
    ) -> None:
        self.collection = db[COLLECTION]
        self.service = service
        self.term_s = term_s
        self.holder = holder or process_holder()
        self.check_s = check_s if check_s is not None else check_interval(term_s)
        self.margin_s = min(3 * self.check_s, term_s / 2)
        """Claim the next slot once less than this is left of the current one."""
        self._clock = clock
        self._held: set[int] = set()
        self._unsure: set[int] = set()
        """Slots whose insert failed with an error other than a duplicate: maybe ours after all."""

    def slot(self, now: float) -> int:
        return int(now // self.term_s)

    def check(self) -> Standing:
        """Claim the current slot if nobody holds it, and the next one when leading near its end."""
        now = self._clock()
        k = self.slot(now)
        self._held = {s for s in self._held if s >= k}
        if k not in self._held:
            self._claim(k, now)
        near_end = now >= (k + 1) * self.term_s - self.margin_s
        if k in self._held and near_end and k + 1 not in self._held and self._claim(k + 1, now):
            self._prune(k)
        return self.standing(now)

    def standing(self, now: float) -> Standing:
        """What this process knows without asking the store: it leads until its held slots run out."""
        k = self.slot(now)
        if k not in self._held:
            return Standing(False, now)
        end = k + 1
        while end in self._held:
            end += 1
        return Standing(True, end * self.term_s)

    def release(self) -> None:
        """Give up the current and claimed-ahead slots (a clean stop), so another process leads at once."""
        held = sorted(self._held | self._unsure)  # an unsure insert may have landed: ours to delete too
        self._held.clear()
        self._unsure.clear()
        if not held:
            return
        try:
            self.collection.delete_many({"_id": {"$in": [self._id(s) for s in held]}, "holder": self.holder})
        except Exception:
            log.warning("could not release the duty lease; another worker takes over when it expires")

    def _id(self, slot: int) -> str:
        return f"{self.service}:{slot}"

    def _claim(self, slot: int, now: float) -> bool:
        try:
            self.collection.insert_one(
                {
                    "_id": self._id(slot),
                    "service": self.service,
                    "slot": slot,
                    "holder": self.holder,
                    "at": now,
                }
            )
        except DuplicateKeyError:
            if slot in self._unsure:  # an earlier insert may have landed without our hearing of it
                self._unsure.discard(slot)
                doc = self._read(slot)
                if doc is not None and doc.get("holder") == self.holder:
                    self._held.add(slot)
                    return True
            return False
        except Exception:
            self._unsure = {s for s in self._unsure if s >= slot - 1} | {slot}
            log.warning("duty lease claim failed (store unreachable?); retrying", exc_info=True)
            return False
        self._held.add(slot)
        return True

    def _read(self, slot: int) -> dict | None:
        try:
            return self.collection.find_one({"_id": self._id(slot)})
        except Exception:
            self._unsure.add(slot)
            return None

    def _prune(self, current: int) -> None:
        try:
            self.collection.delete_many({"service": self.service, "slot": {"$lt": current - 1}})
        except Exception:
            log.warning("pruning old duty lease slots failed; next slot retries", exc_info=True)


class Leadership:
    """Runs ``on_gain`` when this process starts leading and ``on_loss`` when it stops, until ``stop`` is set.

    ``on_loss`` must return only once the duties have stopped (it joins their threads), so a
    process never runs two sets of duties, and the lease is released only after they have.
    """

    def __init__(
        self,
        lease: DutyLease,
        on_gain: Callable[[], None],
        on_loss: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lease = lease
        self._on_gain = on_gain
        self._on_loss = on_loss
        self._clock = clock
        self.leading = False
        self._gauge = metrics.DUTY_LEADER.labels(service=lease.service)

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    standing = self.lease.check()
                except Exception:  # never expected (check handles the store), but never fatal either
                    log.exception("duty lease check failed")
                    standing = self.lease.standing(self._clock())
                self._follow(standing.leading)
                wait = self.lease.check_s
                if self.leading:
                    # Stop believing at the end of the held slots even if the next check is late.
                    wait = max(0.0, min(wait, standing.until - self._clock()))
                stop.wait(wait)
                if self.leading and not stop.is_set():
                    self._follow(self.lease.standing(self._clock()).leading)
        finally:
            self._follow(False)
            self.lease.release()

    def _follow(self, leading: bool) -> None:
        if leading and not self.leading:
            log.info("leading the duties", extra={"service": self.lease.service, "holder": self.lease.holder})
            self.leading = True
            self._gauge.set(1)
            self._on_gain()
        elif not leading and self.leading:
            log.info("no longer leading the duties", extra={"service": self.lease.service})
            self._on_loss()
            self.leading = False
            self._gauge.set(0)
        elif leading:
            self._gauge.set(1)  # re-stamped each check: the most recent write comes from a live leader
