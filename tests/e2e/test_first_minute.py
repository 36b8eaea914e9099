"""A newcomer's first minute (issue 13, item 7): `make run` prints its URLs and logins before it
seeds, seeds in the background with progress, and keeps the JSON log in a file, not the terminal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from tests.e2e.conftest import BASE, SERVICES, base_env, wait_ready
from tests.support.processes import ROOT, eventually, python_env, stop

REFERRALS = 24
PORTS = dict(zip(SERVICES, (BASE + 201, BASE + 202, BASE + 203, BASE + 204, BASE + 280), strict=True))


def test_the_demo_prints_where_to_go_first_then_seeds_in_the_background(tmp_path: Path):
    run_dir = tmp_path / "run"
    env = base_env("embedded", uuid.uuid4().hex[:6]) | {
        f"{name.upper()}_PORT": str(port) for name, port in PORTS.items()
    }
    env |= {"WAYMARK_MODE": "embedded", "WAYMARK_RUN": str(run_dir), "WAYMARK_LOG_FORMAT": "auto"}
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    waymark = str(Path(sys.executable).parent / "waymark")
    with stdout.open("w") as out, stderr.open("w") as err:
        proc = subprocess.Popen(
            [waymark, "demo", "--referrals", str(REFERRALS)],
            env=python_env(env),
            stdout=out,
            stderr=err,
            cwd=ROOT,
        )
        try:
            done = f"Seeding {REFERRALS} synthetic referrals: done"
            eventually(
                lambda: done in stdout.read_text(), timeout=120, what="the background seeding to finish"
            )
            printed = stdout.read_text().splitlines()
            wait_ready({name: f"http://127.0.0.1:{port}" for name, port in PORTS.items()})
            key = re.search(r"API key: (wm_school_\S+)", stdout.read_text()).group(1)
            cases = requests.get(
                f"http://127.0.0.1:{PORTS['referral']}/v1/referrals",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ).json()
        finally:
            stop(proc)

    banner = printed.index(
        "Waymark is running. Ctrl-C stops the embedded platform; `make stack-down` the stack."
    )
    first_progress = printed.index(f"Seeding {REFERRALS} synthetic referrals: 1/{REFERRALS}")
    finished = next(n for n, line in enumerate(printed) if line.startswith(done))
    assert banner < first_progress < finished
    assert not any(line.lstrip().startswith("{") for line in printed)  # no JSON on the terminal's stdout
    assert cases["total"] == REFERRALS // 12  # round-robin over the twelve demo schools

    log_file = run_dir / "waymark.log"
    assert f"Full log (JSON): {log_file}" in printed
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any(entry["logger"] == "shared.consumer" for entry in entries)
