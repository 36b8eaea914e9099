"""Running services: a worker process per service (stack) or everything in one process (embedded).

The worker owns the background duties of a service — sweeping its outbox for events a
crashed writer left unpublished, consuming the events it subscribes to, and periodic
duties — while every process (API or worker) publishes the events it writes itself
(shared.outbox).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from datetime import timedelta
from types import FrameType

from shared import housekeeping, kafka, liveness, topics
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

    def start(self) -> None:
        """Run sweeper, duties and consumer on background threads (embedded mode)."""
        self._start_duties()
        if self.loop is not None:
            self._spawn(f"{self.service.name}-consumer", self.loop.run)

    def run(self) -> None:
        """Run sweeper and duties on threads and the consumer on this one until stopped (stack mode)."""
        self._start_duties()
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

    def _start_duties(self) -> None:
        if self.sweeper is not None:
            self._spawn(f"{self.service.name}-sweeper", self._run_sweeper)
        duties = [*self.service.background, housekeeping.duty(self.service.db, extra=self.service.retained)]
        for n, duty in enumerate(duties):
            self._spawn(f"{self.service.name}-duty-{n}", lambda duty=duty: duty(self.stop_event))

    def _run_sweeper(self) -> None:
        assert self.sweeper is not None
        self.sweeper.run(self.stop_event, self.service.settings.relay_interval_s)

    def _spawn(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)


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
        heartbeat = liveness.Heartbeat(liveness.heartbeat_path(settings.heartbeat_dir, service.name))
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
