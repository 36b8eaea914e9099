"""Load from wrk (Debian package ``wrk``; ``deploy/wrk.sh install``), scripted in Lua from Python.

A run cycles through a list of request specs. ``__UNIQUE__`` in a body or header value
becomes a token unique to the request (run nonce, wrk thread, counter), so every POST
can describe a different child and carry its own Idempotency-Key. wrk's own summary
comes back as one JSON line printed by the script's ``done`` hook.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._infra import run_dir

UNIQUE = "__UNIQUE__"
MARK = "WRKJSON "

LUA = """
local specs = {%(specs)s}
local nonce = "%(nonce)s"
local counter = 0
local threads = 0
local all_threads = {}
created = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
  table.insert(all_threads, thread)
end

function response(status, headers, body)
  if status == 201 then created = created + 1 end
end

function request()
  counter = counter + 1
  local spec = specs[(counter %% #specs) + 1]
  local unique = nonce .. "-" .. tostring(tid) .. "-" .. tostring(counter)
  local headers = {}
  for name, value in pairs(spec.headers) do
    headers[name] = string.gsub(value, "%(unique)s", unique)
  end
  local body = nil
  if spec.body then body = string.gsub(spec.body, "%(unique)s", unique) end
  return wrk.format(spec.method, spec.path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local made = 0
  for _, thread in ipairs(all_threads) do made = made + thread:get("created") end
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,' ..
    '"timeout":%%d,"p50_us":%%d,"p99_us":%%d,"created":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), made))
end
"""


@dataclass(frozen=True)
class Spec:
    method: str
    path: str
    headers: Mapping[str, str]
    body: str | None = None


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    errors: Mapping[str, int]
    p50_ms: float
    p99_ms: float
    created: int = 0
    """Answers with status 201."""

    @property
    def ok_per_s(self) -> float:
        """Requests/s that answered 2xx/3xx: failures never count as throughput."""
        return (self.requests - self.errors.get("status", 0)) / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def require() -> str | None:
    """The wrk binary, or None after telling the user how to get it."""
    found = shutil.which("wrk")
    if found is None:
        print(
            "(wrk is not installed: run `deploy/wrk.sh install` (Debian: apt-get install wrk); `make bench` does it)"
        )
    return found


def lua(specs: Sequence[Spec], nonce: str) -> str:
    def quote(text: str) -> str:
        if "]==]" in text:
            raise ValueError("text cannot be embedded in a Lua long string")
        return f"[==[{text}]==]"

    rows = []
    for spec in specs:
        headers = ", ".join(f"[ {quote(k)} ] = {quote(v)}" for k, v in spec.headers.items())
        body = quote(spec.body) if spec.body is not None else "nil"
        rows.append(
            f"{{method = {quote(spec.method)}, path = {quote(spec.path)}, headers = {{{headers}}}, body = {body}}}"
        )
    return LUA % {"specs": ",\n  ".join(rows), "nonce": nonce, "unique": UNIQUE, "mark": MARK}


def parse(output: str) -> Result:
    for line in output.splitlines():
        if line.startswith(MARK):
            data = json.loads(line[len(MARK) :])
            errors = {k: int(data[k]) for k in ("connect", "read", "write", "status", "timeout")}
            return Result(
                int(data["requests"]),
                data["duration_us"] / 1e6,
                errors,
                data["p50_us"] / 1000,
                data["p99_us"] / 1000,
                int(data.get("created", 0)),
            )
    raise RuntimeError(f"no wrk summary in its output:\n{output[-2000:]}")


def run(url: str, specs: Sequence[Spec], seconds: float, connections: int = 16, threads: int = 2) -> Result:
    """Closed-loop load for ``seconds`` with ``connections`` connections over ``threads`` threads."""
    script = Path(run_dir()) / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    script.write_text(lua(specs, uuid.uuid4().hex[:10]))
    try:
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
             "-s", str(script), url],
            capture_output=True, text=True, check=True, timeout=seconds + 120,
        )  # fmt: skip
    finally:
        script.unlink(missing_ok=True)
    return parse(done.stdout)
