"""A store outage answers 503 with Retry-After, not 500, and service resumes when the store is back.

The referral API runs on the real store through a TCP relay this test controls; cutting
the relay is the store going away as the API sees it (connections refused and reset).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from pymongo import MongoClient

from services.referral.bootstrap import build
from services.referral.keys import create_school_key
from shared.settings import Settings
from tests.conftest import MONGO_URI
from tests.unit.referral.conftest import Clock, referral

pytestmark = pytest.mark.integration


class Relay:
    """Forwards a local port to the store until :meth:`cut`; then refuses and drops connections."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        self.open = False
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self._sockets = []

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def relayed(mongo_db) -> Iterator[tuple[object, Relay]]:
    address = urlparse(MONGO_URI)
    relay = Relay((address.hostname or "127.0.0.1", address.port or 27017))
    client: MongoClient = MongoClient(
        f"mongodb://127.0.0.1:{relay.port}/?directConnection=true",
        serverSelectionTimeoutMS=1_000,
        connectTimeoutMS=1_000,
        tz_aware=True,
    )
    service = build(Settings(service="referral"), db=client[mongo_db.name], clock=Clock())
    yield service, relay
    client.close()
    relay.close()


def test_a_store_outage_is_a_503_with_retry_after_and_service_resumes(relayed, mongo_db):
    service, relay = relayed
    school = {"Authorization": f"Bearer {create_school_key(mongo_db, 'school-a', 'A').key}"}
    http = service.app.test_client()
    assert http.post("/v1/referrals", json=referral(), headers=school).status_code == 201

    relay.cut()
    body = referral(student={"name": "Zhao Lei", "date_of_birth": "2011-01-02", "sex": "male", "grade": 8})
    down = http.post("/v1/referrals", json=body, headers=school)
    assert down.status_code == 503, down.json
    assert int(down.headers["Retry-After"]) > 0
    assert down.json["error"]["code"] == "store_unavailable"

    relay.restore()
    assert http.post("/v1/referrals", json=body, headers=school).status_code == 201
