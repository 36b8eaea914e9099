"""The whole platform composed in one process: the embedded default behind ``make run``.

Every service is built by its own ``bootstrap.build`` exactly as in the stack; only the
parts differ: an in-process bus instead of Kafka and an in-memory store instead of
MongoDB/FerretDB. Each API listens on its usual port so the same URLs work in both modes.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from services.console import bootstrap as console
from shared import logs
from shared.memory_bus import MemoryBus
from shared.runtime import Worker, embedded_workers
from shared.service import Service
from shared.settings import EMBEDDED, SERVICES, Settings

if TYPE_CHECKING:
    from services.demo import DemoLogin, DemoSchool

log = logging.getLogger(__name__)

SERVICE_NAMES = tuple(SERVICES)
"""The services this platform runs, in start order (the one list: ``shared.settings.SERVICES``)."""


def available() -> list[str]:
    """The services that exist in this checkout (the platform grows one service at a time)."""
    found = []
    for name in SERVICE_NAMES:
        try:
            importlib.import_module(f"services.{name}.bootstrap")
        except ModuleNotFoundError as exc:
            if exc.name not in (f"services.{name}", f"services.{name}.bootstrap"):
                raise
            continue
        found.append(name)
    return found


def build(name: str, settings: Settings) -> Service:
    module = importlib.import_module(f"services.{name}.bootstrap")
    return module.build(settings)


@dataclass
class Platform:
    """Running services, their workers and HTTP servers; ``stop()`` shuts all of them down."""

    bus: MemoryBus
    services: dict[str, Service]
    workers: list[Worker]
    servers: list[BaseWSGIServer] = field(default_factory=list)
    console_url: str | None = None

    def url(self, name: str) -> str:
        settings = self.services[name].settings
        return f"http://{settings.host}:{settings.port}"

    def urls(self) -> dict[str, str]:
        found = {name: self.url(name) for name in self.services}
        if self.console_url:
            found["console"] = self.console_url
        return found

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
        for worker in self.workers:
            worker.stop()


def start_embedded(
    names: Sequence[str] | None = None,
    *,
    settings_for: Callable[[str], Settings] | None = None,
    serve_http: bool = True,
) -> Platform:
    settings_for = settings_for or _embedded_settings
    names = list(names) if names is not None else available()
    bus = MemoryBus()
    services = {name: build(name, settings_for(name)) for name in names}
    workers = embedded_workers(list(services.values()), bus)
    for worker in workers:
        worker.start()
    platform = Platform(bus, services, workers)
    if serve_http:
        for service in services.values():
            platform.servers.append(_serve(service.name, service.settings, service.app))
        console_settings = settings_for("console")
        urls = {name: platform.url(name) for name in services}
        console_app = console.build(console_settings, urls=urls, bus=bus)
        platform.servers.append(_serve("console", console_settings, console_app))
        platform.console_url = f"http://{console_settings.host}:{console_settings.port}"
    return platform


def _embedded_settings(name: str) -> Settings:
    """Ports and secrets from the environment; the parts always in-process (that is what embedded means)."""
    return Settings.from_env(name).but(mode=EMBEDDED)


def _serve(name: str, settings: Settings, app: Flask) -> BaseWSGIServer:
    server = make_server(settings.host, settings.port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name=f"{name}-http", daemon=True).start()
    return server


def run_forever(*, seed: bool = False, referrals: int = 0) -> None:
    """Start, print the URLs and logins first, then seed the referrals in the background.

    On a terminal the full JSON log goes to ``$WAYMARK_RUN/waymark.log`` and the terminal shows
    warnings only, so the banner is not buried; off a terminal (CI, a pipe) stderr stays JSON."""
    log_file = Path(os.environ.get("WAYMARK_RUN", ".run")) / "waymark.log"
    on_terminal = logs.human_terminal()
    logs.configure("platform", log_file=log_file, terminal_level="WARNING" if on_terminal else None)
    from services import demo

    for name, roster in demo.ONCALL.items():
        if not os.environ.get(name):
            os.environ[name] = roster
            log.info("on-call: %s unset, using the demo roster", name)
    platform = start_embedded()
    urls = {name: platform.url(name) for name in platform.services}
    schools: list[DemoSchool] = []
    if seed:
        schools = demo.seed_region(urls, _staff_secret(platform))
    # Embedded accounts live in this process's memory, so `waymark run` makes the demo's too.
    logins = demo_logins(_embedded_settings("console"))
    print_banner(platform.urls(), schools, logins)
    print(f"Full log (JSON): {log_file}", flush=True)
    if seed and referrals:
        threading.Thread(
            target=_seed_in_background, args=(urls, schools, referrals), name="demo-seed", daemon=True
        ).start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        platform.stop()


def _staff_secret(platform: Platform) -> str:
    return next(iter(platform.services.values())).settings.staff_token_secret


def _seed_in_background(urls: dict[str, str], schools: Sequence[DemoSchool], referrals: int) -> None:
    from services import demo

    bar = ProgressBar(f"Seeding {referrals} synthetic referrals", referrals)
    try:
        demo.seed_referrals(urls, schools, referrals, progress=bar.update)
    except Exception:  # the platform keeps running; the reason is in the log
        log.exception("demo seeding stopped")
        bar.finish("stopped (see the log)")
    else:
        bar.finish("done; triage and allocation continue in the background")


class ProgressBar:
    """``Seeding 300 synthetic referrals [######......] 120/300`` redrawn in place on a terminal;
    a line every tenth of the way otherwise (a log file should not fill with carriage returns)."""

    WIDTH = 30

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label, self.total = label, max(total, 1)
        self.stream = stream or sys.stdout
        self.redraw = self.stream.isatty()
        self._shown = -1

    def update(self, done: int, total: int) -> None:
        if self.redraw:
            filled = self.WIDTH * done // self.total
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        elif (tenth := 10 * done // self.total) > self._shown:
            self._shown = tenth
            self.stream.write(f"{self.label}: {done}/{total}\n")
        self.stream.flush()

    def finish(self, outcome: str) -> None:
        self.stream.write(("\n" if self.redraw else "") + f"{self.label}: {outcome}\n")
        self.stream.flush()


def demo_logins(settings: Settings) -> list[DemoLogin]:
    """The demo's scheduler, clinician and operator accounts in the auth database of ``settings``' store."""
    from services import demo
    from shared.staff.signin import StaffAuth

    return demo.staff_logins(StaffAuth.for_settings(settings))


def print_banner(
    urls: dict[str, str], schools: Sequence[DemoSchool] = (), logins: Sequence[DemoLogin] = ()
) -> None:
    lines = ["", "Waymark is running. Ctrl-C stops the embedded platform; `make stack-down` the stack."]
    for name, url in urls.items():
        extra = "(operator dashboard)" if name == "console" else f"docs {url}/docs   health {url}/readyz"
        lines.append(f"  {name:<13} {url}   {extra}")
    if logins:
        pages = {
            "scheduler": f"{urls.get('scheduling', '')}/ui",
            "clinician": f"{urls.get('assessment', '')}/clinic",
            "operator": urls.get("console", ""),
        }
        lines += [
            "",
            "Staff sign-in (demo accounts; passwords are new each run; `waymark staff` manages accounts):",
        ]
        for login in logins:
            where = pages.get(login.role, "")
            lines.append(f"  {login.role:<10} user {login.username:<15} password {login.password}   {where}")
    if schools and "referral" in urls:
        school, url = schools[0], urls["referral"]
        lines += [
            "",
            f"Demo school {school.name} ({school.school_id}), API key: {school.key}",
            "Its cases:",
            f"  curl -s -H 'Authorization: Bearer {school.key}' {url}/v1/referrals | python3 -m json.tool",
            "Refer a child (see the schema at /docs):",
            f"  curl -s -X POST -H 'Authorization: Bearer {school.key}' -H 'Content-Type: application/json' "
            f"-d @docs/examples/referral.json {url}/v1/referrals",
        ]
    print("\n".join(lines), flush=True)
