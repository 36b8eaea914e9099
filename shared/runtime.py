"""Running services: a worker process per service (stack) or everything in one process (embedded).

The worker owns the background duties of a service — sweeping its outbox for events a
crashed writer left unpublished, consuming the events it subscribes to, and periodic
duties — while every process (API or worker) publishes the events it writes itself
(shared.outbox). Every worker of a service consumes (the group shares the partitions), but
only the one holding the service's duty lease (shared.leadership) runs the sweeper and the
periodic duties, so a second worker adds capacity and a standby, not duplicated work.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from datetime import timedelta
from types import FrameType

from shared import housekeeping, kafka, leadership, liveness, topics
from shared.consumer import ConsumerLoop, DeadLetterCapExceeded
from shared.inbox import Inbox
from shared.memory_bus import MemoryBus
from shared.messaging import Publisher, Source
from shared.outbox import OutboxSweeper
from shared.service import Service

log = logging.getLogger(__name__)

EXIT_DEAD_LETTER_CAP = 78
"""The worker's exit status when it stopped at the dead-letter cap (EX_CONFIG: a bad deploy or bad
data, not a crash). Its supervisor must not restart it for this one status — each restart would
dead-letter another ``WAYMARK_DEAD_LETTER_CAP`` events and drain the topic after all — so
deploy/stack.sh (supervisord ``exitcodes``) and deploy/systemd (``RestartPreventExitStatus``)
leave it stopped, and /readyz says "worker not running" until an operator looks."""


class Worker:
    """A service's outbox sweeper and duties on threads, plus its consumer loop; stoppable from a signal handler."""

    def __init__(
        self,
        service: Service,
        publisher: Publisher,
        source: Source | None,
        heartbeat: liveness.Heartbeat | None = None,
    ) -> None:
        self.service = service
        self.stop_event = threading.Event()
        self.heartbeat = heartbeat
        self.sweeper = None
        if service.outbox is not None:
            service.outbox.attach(publisher)
            self.sweeper = OutboxSweeper(
                service.outbox, grace=timedelta(seconds=service.settings.outbox_grace_s)
            )
        subscription = service.subscription()
        self.loop = None
        if subscription is not None and source is not None:
            self.loop = ConsumerLoop(
                service.name,
                subscription,
                source,
                dead_letters=publisher,
                inbox=Inbox(service.db),
                policy=service.settings.consumer,
                heartbeat=heartbeat.beat if heartbeat is not None else None,
            )
        self._source = source
        self._threads: list[threading.Thread] = []
        self.leadership = leadership.Leadership(
            leadership.DutyLease(service.db, service.name, term_s=service.settings.duty_lease_s),
            on_gain=self._start_duties,
            on_loss=self._stop_duties,
        )
        self._duty_stop: threading.Event | None = None
        self._duty_threads: list[threading.Thread] = []

    def start(self) -> None:
        """Run leadership (sweeper and duties while leading) and consumer on background threads (embedded mode)."""
        self._lead()
        if self.loop is not None:
            self._spawn(f"{self.service.name}-consumer", self.loop.run)

    def run(self) -> None:
        """Run leadership (sweeper and duties while leading) on threads and the consumer on this one (stack mode)."""
        self._lead()
        try:
            if self.loop is not None:
                self.loop.run()
            else:  # nothing to consume: the heartbeat says the duties' process is alive
                while not self.stop_event.wait(1.0):
                    if self.heartbeat is not None:
                        self.heartbeat.beat()
        finally:
            self.stop()
            if self.heartbeat is not None:
                self.heartbeat.clear()  # stopped on purpose: readiness says so at once

    def stop(self) -> None:
        self.stop_event.set()
        if self.loop is not None:
            self.loop.stop()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10)
        if self.service.outbox is not None:
            self.service.outbox.close()
        if self._source is not None:
            self._source.close()

    def _lead(self) -> None:
        self._spawn(f"{self.service.name}-leadership", lambda: self.leadership.run(self.stop_event))

    def _start_duties(self) -> None:
        """Leadership gained: sweeper and duties on threads, each watching this leadership's own stop event."""
        stop = self._duty_stop = threading.Event()
        threads = []
        if self.sweeper is not None:
            sweeper = self.sweeper
            threads.append(
                (
                    f"{self.service.name}-sweeper",
                    lambda: sweeper.run(stop, self.service.settings.relay_interval_s),
                )
            )
        duties = [*self.service.background, housekeeping.duty(self.service.db, extra=self.service.retained)]
        for n, duty in enumerate(duties):
            threads.append((f"{self.service.name}-duty-{n}", lambda duty=duty: duty(stop)))
        self._duty_threads = [self._thread(name, target) for name, target in threads]

    def _stop_duties(self) -> None:
        """Leadership lost (or the worker stopping): signal the duties and wait until each has returned."""
        if self._duty_stop is not None:
            self._duty_stop.set()
        for thread in self._duty_threads:
            while thread.is_alive():
                thread.join(timeout=10)
                if thread.is_alive():
                    log.warning("a duty is still finishing its pass", extra={"thread": thread.name})
        self._duty_threads = []
        self._duty_stop = None

    def _thread(self, name: str, target: object) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        return thread

    def _spawn(self, name: str, target: object) -> None:
        self._threads.append(self._thread(name, target))


def kafka_worker(service: Service) -> Worker:
    settings = service.settings
    subscription = service.subscription()
    wanted = [service.topic]
    source = None
    if subscription is not None:
        wanted += [*subscription.topics, subscription.dead_letter_topic]
    kafka.ensure_topics(settings.kafka_bootstrap, sorted(set(wanted)))
    if subscription is not None:
        source = kafka.KafkaSource(
            settings.kafka_bootstrap, subscription.group, subscription.topics, f"{service.name}-worker"
        )
    publisher = kafka.KafkaPublisher(settings.kafka_bootstrap, f"{service.name}-worker")
    heartbeat = None
    if settings.heartbeat_dir:
        path = liveness.heartbeat_path(settings.heartbeat_dir, service.name, settings.worker_instance)
        heartbeat = liveness.Heartbeat(path)
    return Worker(service, publisher, source, heartbeat)


def embedded_workers(services: Sequence[Service], bus: MemoryBus) -> list[Worker]:
    workers = []
    for service in services:
        subscription = service.subscription()
        source = bus.source(subscription.group, subscription.topics) if subscription else None
        workers.append(Worker(service, bus, source))
    return workers


def serve_worker(service: Service) -> None:
    """Entry point of ``python -m services.<name>.worker``: runs until SIGTERM or SIGINT."""
    worker = kafka_worker(service)

    def _graceful(signum: int, _frame: FrameType | None) -> None:
        log.info("signal received; finishing the current event", extra={"signal": signum})
        worker.stop_event.set()
        if worker.loop is not None:
            worker.loop.stop()

    signal.signal(signal.SIGTERM, _graceful)
    signal.signal(signal.SIGINT, _graceful)
    log.info("worker started", extra={"topic": service.topic, "dlq": topics.dead_letters(service.name)})
    try:
        worker.run()
    except DeadLetterCapExceeded as exc:
        log.critical(
            "stopped at the dead-letter cap; not restarting until an operator looks (docs/runbooks/dlq-replay.md)",
            extra={"error": str(exc)},
        )
        raise SystemExit(EXIT_DEAD_LETTER_CAP) from exc
