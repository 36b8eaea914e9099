"""The baseline for the referral API: bare Flask doing one insert_one or one find_one per request.

Served by ``bench.referral_api`` under the same gunicorn config as the real service
(shared/gunicorn_conf.py: same workers, threads, worker class), on the same store, so
the ratio isolates what the service does per request beyond one store round trip.
``BENCH_BARE_DB`` names its database; the collection is ``cases``.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from flask import Flask, abort, jsonify, request
from pymongo import MongoClient

from shared.settings import Settings


def create_app() -> Flask:
    settings = Settings.from_env("bench")
    client: MongoClient = MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=5000, tz_aware=True)
    cases = client[os.environ.get("BENCH_BARE_DB", "bench_bare")].cases
    app = Flask("bench-bare")

    @app.post("/v1/referrals")
    def submit() -> Any:
        doc = {"_id": "c-" + uuid.uuid4().hex[:20], "referral": request.get_json(force=True)}
        cases.insert_one(doc)
        return jsonify({"case_id": doc["_id"], "status": "submitted"}), 201

    @app.get("/v1/referrals/<case_id>")
    def read(case_id: str) -> Any:
        doc = cases.find_one({"_id": case_id})
        if doc is None:
            abort(404)
        return jsonify({"case_id": doc["_id"], **doc["referral"]})

    @app.get("/readyz")
    def ready() -> Any:
        return jsonify({"status": "ready"})

    return app


app = create_app()
