"""The consumer loop every service runs: decode, dedupe, handle, retry, dead-letter, commit.

Offsets are committed only after an event is handled (or dead-lettered) — once per polled
batch, for what was finished — so a process that dies mid-batch gets those events again;
the inbox (checked and marked once per batch) and idempotent handlers make the second
delivery harmless. Infrastructure outages (store unreachable) are retried until they
end, never dead-lettered, with a backoff that doubles up to ``backoff_max_s`` for as long as
the outage lasts (a two-minute outage costs a few dozen retries, not hundreds); any other
failure is retried ``max_attempts`` times with
exponential backoff and jitter, then the record goes to the group's dead-letter topic
with headers saying where it came from and why. After ``dead_letter_cap`` consecutive
dead letters the loop stops without committing: a bad deploy must not empty a topic
into the dead-letter queue.

The loop calls ``heartbeat`` on every poll, every record and every retry, so a process
watching it (shared.liveness) can tell a consumer that is working from one that is dead
or stuck.

Within a polled batch, events of different keys (the producer's key is the case id) are
handled side by side on up to ``ConsumerPolicy.concurrency`` threads, each key's events in
their order, one after the other: the order Kafka itself keeps is per key and partition,
and nothing more is promised to handlers. A handler spends most of its time waiting for
store round trips, so a batch of distinct cases takes about as long as its slowest lane
instead of the sum of its events. What is committed is, per partition, only the records
before the first one not finished (a lane stopped by a shutdown or a failure leaves its
later records, and every later record of their partitions, to be redelivered), and the
inbox still completes the batch only after every lane has returned.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from pymongo.errors import ConnectionFailure

from shared import context, metrics, store
from shared.events import EnvelopeError, Event, from_kafka
from shared.inbox import Inbox, InboxBatch
from shared.messaging import Publisher, Record, Source
from shared.settings import ConsumerPolicy

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]
T = TypeVar("T")


class DependencyUnavailable(RuntimeError):
    """A service this handler needs did not answer: retried until it does, never dead-lettered.

    Handlers raise (a subclass of) it for outages of other services, as pymongo raises
    ConnectionFailure for the store.
    """


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionFailure, DependencyUnavailable)


def is_outage(exc: BaseException) -> bool:
    """An outage of something the handler needs: retried until it ends, never dead-lettered.

    Besides TRANSIENT_ERRORS, FerretDB's own storage going away (shared.store.unavailable).
    """
    return isinstance(exc, TRANSIENT_ERRORS) or store.unavailable(exc)


class DeadLetterCapExceeded(RuntimeError):
    """Too many consecutive dead letters: stop and let an operator look."""


@dataclass(frozen=True)
class Subscription:
    group: str
    topics: tuple[str, ...]
    handlers: Mapping[str, Handler]
    """Event short name (``referral.submitted``) → handler."""
    dead_letter_topic: str


class ConsumerLoop:
    def __init__(
        self,
        service: str,
        subscription: Subscription,
        source: Source,
        dead_letters: Publisher,
        inbox: Inbox | None,
        policy: ConsumerPolicy,
        sleep: Callable[[float], object] | None = None,
        heartbeat: Callable[[], object] | None = None,
    ) -> None:
        self.service = service
        self.subscription = subscription
        self._source = source
        self._dead_letters = dead_letters
        self._inbox = inbox
        self._policy = policy
        self._stop = threading.Event()
        self._wait = sleep or self._stop.wait
        self._heartbeat = heartbeat or (lambda: None)
        self._consecutive_dead = 0
        self._dead_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def stop(self) -> None:
        """Finish the current record, then return from :meth:`run` (SIGTERM calls this)."""
        self._stop.set()

    def run(self, poll_timeout_s: float = 0.5) -> None:
        log.info("consumer started", extra={"group": self.subscription.group})
        try:
            while not self._stop.is_set():
                self._heartbeat()
                done: list[Record] = []
                try:
                    self._process_batch(self._source.poll(poll_timeout_s), done)
                finally:
                    # One commit per batch: a crash before it only means redeliveries, which dedupe.
                    self._commit(done)
                self._report_lag()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            log.info("consumer stopping", extra={"group": self.subscription.group})

    def _commit(self, done: Sequence[Record]) -> None:
        """Commit what was finished; a refused commit costs redeliveries, never the worker.

        Whatever the commit raised (a rebalance, a timeout, a lost coordinator or connection),
        the records are simply redelivered to the partitions' next owner; nothing else is lost.
        """
        try:
            self._source.commit(done)
        except Exception as exc:  # CommitFailed from a Source; anything else is treated alike
            metrics.COMMIT_FAILURES.labels(self.service).inc()
            log.warning(
                "commit refused; these records will be redelivered",
                extra={"group": self.subscription.group, "records": len(done), "error": str(exc)},
            )

    def process(self, record: Record) -> bool:
        """Handle one record; True when its offset may be committed."""
        return bool(self.process_batch([record]))

    def process_batch(self, records: Sequence[Record]) -> list[Record]:
        """Handle a polled batch in order; returns the records whose offsets may be committed."""
        done: list[Record] = []
        self._process_batch(records, done)
        return done

    def _process_batch(self, records: Sequence[Record], done: list[Record]) -> None:
        """Handle ``records`` in order, appending each finished one to ``done`` (kept if this raises).

        The inbox costs two inserts per batch, not two round trips per event (shared.inbox):
        the batch's event ids are claimed before handling and the batch is marked complete
        after, so an event is never marked before its effect.
        """
        decoded = [(record, self._decode(record)) for record in records]
        inbox = self._inbox
        handled_here = self.subscription.handlers
        claimed = {e.dedupe_key for _, e in decoded if isinstance(e, Event) and e.name in handled_here}
        batch = self._with_retry(lambda: inbox.begin(claimed)) if inbox is not None and claimed else None
        seen = set(batch.seen) if batch is not None else set()
        claimed -= seen
        handled: set[str] = set()
        try:
            if self._policy.concurrency > 1 and len(decoded) > 1:
                self._process_lanes(decoded, seen, handled, done)
            else:
                for record, event in decoded:
                    self._heartbeat()
                    if self._stop.is_set() or not self._process(record, event, seen, handled):
                        break  # the rest stays uncommitted: redelivered to whoever consumes next
                    done.append(record)
        finally:
            if batch is not None and claimed:  # nothing to complete when the whole batch was seen
                unhandled = sorted(claimed - handled)
                self._with_retry(lambda: self._close(batch, unhandled))

    def _process_lanes(
        self,
        decoded: Sequence[tuple[Record, Event | EnvelopeError]],
        seen: set[str],
        handled: set[str],
        done: list[Record],
    ) -> None:
        """Handle each key's records in order, different keys side by side; ``done`` gets the committable.

        Duplicates of one event share its key, so they meet in one lane (handled once).
        Waits for every lane before returning or raising, so nothing runs on after the batch.
        """
        lanes: dict[object, list[int]] = {}
        for i, (record, _) in enumerate(decoded):
            lane = record.key if record.key is not None else (record.topic, record.partition)
            lanes.setdefault(lane, []).append(i)
        finished = [False] * len(decoded)

        def run(indexes: list[int]) -> None:
            for i in indexes:
                self._heartbeat()
                record, event = decoded[i]
                if self._stop.is_set() or not self._process(record, event, seen, handled):
                    return  # this lane's rest stays uncommitted
                finished[i] = True

        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self._policy.concurrency, thread_name_prefix=f"{self.service}-lane"
            )
        futures = [self._pool.submit(run, indexes) for indexes in lanes.values()]
        # Only the lanes beat (before each record, and while backing off): a lane stuck in one
        # call must show as a stalled worker (WAYMARK_WORKER_STALL_S), not be kept "alive" here.
        wait(futures)
        blocked: set[tuple[str, int]] = set()
        for i, (record, _) in enumerate(decoded):
            partition = (record.topic, record.partition)
            if partition in blocked:
                continue
            if finished[i]:
                done.append(record)
            else:  # a later offset committed would skip this one
                blocked.add(partition)
        for future in futures:
            future.result()  # re-raise what a lane raised (the dead-letter cap, a store error)

    @staticmethod
    def _close(batch: InboxBatch, unhandled: Sequence[str]) -> None:
        batch.release(unhandled)
        batch.complete()

    def _decode(self, record: Record) -> Event | EnvelopeError:
        try:
            return from_kafka(record.value, record.headers)
        except EnvelopeError as exc:
            return exc

    def _process(
        self, record: Record, event: Event | EnvelopeError, seen: set[str], handled: set[str]
    ) -> bool:
        if isinstance(event, EnvelopeError):
            self._dead_letter(record, "invalid", f"invalid envelope: {event}", attempts=0)
            return True
        handler = self.subscription.handlers.get(event.name)
        if handler is None:
            metrics.EVENTS_CONSUMED.labels(self.service, event.name, "ignored").inc()
            return True
        with context.bound(event.correlation_id):
            if event.dedupe_key in seen:
                metrics.EVENTS_CONSUMED.labels(self.service, event.name, "duplicate").inc()
                return True
            error, attempts = self._handle(handler, event)
            if error is None:
                with self._dead_lock:
                    self._consecutive_dead = 0
                seen.add(event.dedupe_key)  # the same event twice in one batch is handled once
                handled.add(event.dedupe_key)
                metrics.EVENTS_CONSUMED.labels(self.service, event.name, "handled").inc()
                return True
            if self._stop.is_set():
                return False
            self._dead_letter(record, event.name, repr(error), attempts)
            return True

    def _handle(self, handler: Handler, event: Event) -> tuple[BaseException | None, int]:
        attempt = 0  # failures of the handler itself: these lead to the dead-letter topic
        outages = 0  # dependency outages: never dead-lettered, but backed off like any retry
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                handler(event)
                metrics.EVENT_HANDLING.labels(self.service, event.name).observe(time.perf_counter() - started)
                return None, attempt
            except Exception as exc:
                if not is_outage(exc):
                    metrics.EVENTS_FAILED.labels(self.service, event.name).inc()
                    log.warning(
                        "handler failed",
                        extra={
                            "type": event.type,
                            "event_id": event.id,
                            "attempt": attempt,
                            "error": repr(exc),
                        },
                    )
                    if attempt >= self._policy.max_attempts or self._stop.is_set():
                        return exc, attempt
                    self._sleep(self._backoff(attempt))
                    continue
                attempt -= 1  # outages do not count towards dead-lettering
                outages += 1
                delay = self._backoff(outages)
                log.warning(
                    "dependency unavailable; will retry",
                    extra={"error": repr(exc), "retry": outages, "delay_s": round(delay, 3)},
                )
                if self._stop.is_set():
                    return exc, attempt
                self._sleep(delay)

    def _with_retry(self, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                attempt += 1
                log.warning("store unavailable; will retry", extra={"error": repr(exc)})
                if self._stop.is_set():
                    raise
                self._sleep(self._backoff(attempt))

    def _sleep(self, seconds: float) -> None:
        """Wait between retries (the stop event cuts it short); a waiting loop is still alive."""
        self._heartbeat()
        self._wait(seconds)
        self._heartbeat()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._policy.backoff_max_s, self._policy.backoff_initial_s * 2 ** min(attempt - 1, 30))
        return random.uniform(ceiling / 2, ceiling)

    def _dead_letter(self, record: Record, type_name: str, reason: str, attempts: int) -> None:
        with self._dead_lock:
            self._consecutive_dead += 1
            consecutive = self._consecutive_dead
        if consecutive > self._policy.dead_letter_cap:
            raise DeadLetterCapExceeded(
                f"{consecutive} consecutive dead letters in group {self.subscription.group}"
            )
        headers = [
            *[(k, v) for k, v in record.headers if not k.startswith("dlq_")],
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_group", self.subscription.group.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_reason", reason[:1000].encode()),
        ]
        self._dead_letters.send(self.subscription.dead_letter_topic, record.key, record.value, headers)
        metrics.DEAD_LETTERS.labels(self.service, record.topic).inc()
        metrics.EVENTS_CONSUMED.labels(self.service, type_name, "dead_lettered").inc()
        log.error(
            "dead-lettered",
            extra={"topic": record.topic, "offset": record.offset, "reason": reason, "attempts": attempts},
        )

    def _report_lag(self) -> None:
        try:
            for (topic, partition), lag in self._source.lag().items():
                metrics.CONSUMER_LAG.labels(self.service, topic, str(partition)).set(lag)
        except Exception:  # lag is advisory; never let it stop consumption
            log.debug("lag unavailable", exc_info=True)
