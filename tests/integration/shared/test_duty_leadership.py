"""Two worker processes of one service on the real broker and store: one runs the duties, and
when it is killed -9 the other takes over (shared.leadership)."""

from __future__ import annotations

import os
import signal
import time

from shared.leadership import COLLECTION
from tests.integration.shared.test_delivery import log_for, worker_env
from tests.support.processes import eventually, python_module, running

TERM_S = 2.0


def pids_marking(db, since: float) -> set[int]:
    return {m["pid"] for m in db.duty_marks.find({"at": {"$gte": since}}, {"pid": 1})}


def test_one_of_two_workers_runs_the_duties_and_the_other_takes_over_when_it_is_killed(
    kafka_bootstrap, mongo_db, unique
):
    name = f"probe_{unique}"
    env = worker_env(
        name, mongo_db.name, kafka_bootstrap, PROBE_DUTY_MARKS="1", WAYMARK_DUTY_LEASE_S=str(TERM_S)
    )
    module = python_module("tests.support.probe_service")
    with (
        running(module, env, log_for(name, "worker-1")) as one,
        running(module, env, log_for(name, "worker-2")) as two,
    ):
        started = time.time()
        eventually(lambda: pids_marking(mongo_db, started), timeout=60, what="a worker to lead the duties")
        # Both workers are up (each has stamped a lease check or consumed by now); watch several terms.
        time.sleep(3 * TERM_S)
        assert one.poll() is None and two.poll() is None
        [leader] = pids_marking(mongo_db, started)
        assert leader in (one.pid, two.pid)
        holders = {d["holder"].split(":")[1] for d in mongo_db[COLLECTION].find({"service": name})}
        assert holders == {str(leader)}
        other = two.pid if leader == one.pid else one.pid

        os.kill(leader, signal.SIGKILL)
        killed = time.time()
        eventually(
            lambda: other in pids_marking(mongo_db, killed),
            timeout=TERM_S * 2 + 10,
            what="the other worker to take over the duties",
        )
        took_over = mongo_db.duty_marks.find_one({"pid": other}, sort=[("at", 1)])["at"]
        # At most the killed leader's claimed-ahead slot plus a check, and process scheduling slack.
        assert took_over - killed <= 2 * TERM_S + 2
        assert pids_marking(mongo_db, took_over) == {other}
