"""Issue 11 item 2: outside the embedded demo no process starts on a public default or missing secret."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from services.referral.crypto import FieldCipher
from services.scheduling.config import Config
from shared import secret_keys
from shared.secret_keys import DEV_DATA_KEY, DEV_INDEX_KEY, DEV_STAFF_TOKEN_SECRET, MissingSecret
from shared.settings import Settings
from tests.support.processes import ROOT
from tests.support.secrets_env import TEST_SECRETS, kafka_settings

KAFKA_ENV = {"WAYMARK_MODE": "kafka", **TEST_SECRETS}


def test_embedded_demo_still_runs_on_the_development_defaults() -> None:
    settings = Settings.from_env("referral", {})
    assert settings.staff_token_secret == DEV_STAFF_TOKEN_SECRET
    FieldCipher.from_settings(settings)
    assert Config.from_extra({}, embedded=True).offer_secret


@pytest.mark.parametrize("value", [None, "", DEV_STAFF_TOKEN_SECRET, "short-secret"])
def test_kafka_mode_refuses_a_missing_default_or_short_staff_secret(value: str | None) -> None:
    env = {k: v for k, v in KAFKA_ENV.items() if k != "WAYMARK_STAFF_TOKEN_SECRET"}
    if value is not None:
        env["WAYMARK_STAFF_TOKEN_SECRET"] = value
    with pytest.raises(MissingSecret, match="WAYMARK_STAFF_TOKEN_SECRET"):
        Settings.from_env("assessment", env)


def test_kafka_settings_built_by_hand_refuse_the_default_staff_secret() -> None:
    with pytest.raises(MissingSecret, match="WAYMARK_STAFF_TOKEN_SECRET"):
        Settings(service="notification", mode="kafka")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REFERRAL_DATA_KEYS", None),
        ("REFERRAL_DATA_KEYS", DEV_DATA_KEY),
        ("REFERRAL_DATA_KEYS", f"{TEST_SECRETS['REFERRAL_DATA_KEYS']},{DEV_DATA_KEY}"),
        ("REFERRAL_DATA_KEYS", "x" * 44),
        ("REFERRAL_INDEX_KEY", None),
        ("REFERRAL_INDEX_KEY", DEV_INDEX_KEY),
    ],
)
def test_referral_refuses_missing_or_default_data_keys(name: str, value: str | None) -> None:
    env = {k: v for k, v in KAFKA_ENV.items() if k != name} | ({name: value} if value is not None else {})
    with pytest.raises(MissingSecret, match=name):
        FieldCipher.from_settings(Settings.from_env("referral", env))


def test_scheduling_offer_secret_is_its_own_and_required() -> None:
    settings = Settings.from_env(
        "scheduling", {k: v for k, v in KAFKA_ENV.items() if k != "SCHEDULING_OFFER_SECRET"}
    )
    with pytest.raises(MissingSecret, match="SCHEDULING_OFFER_SECRET"):
        Config.from_extra(settings.extra, embedded=False)
    config = Config.from_extra(Settings.from_env("scheduling", KAFKA_ENV).extra, embedded=False)
    assert config.offer_secret == TEST_SECRETS["SCHEDULING_OFFER_SECRET"]
    assert config.offer_secret != settings.staff_token_secret


def test_the_test_helper_builds_kafka_settings_that_pass() -> None:
    settings = kafka_settings("referral")
    FieldCipher.from_settings(settings)
    Config.from_extra(kafka_settings("scheduling").extra, embedded=False)


def test_generated_secrets_file_is_private_complete_and_never_rewritten(tmp_path) -> None:
    path = tmp_path / "cache" / "secrets.env"
    assert secret_keys.write_once(path)
    first = path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    values = dict(line.split("=", 1) for line in first.splitlines() if not line.startswith("#"))
    assert set(values) == set(secret_keys.REQUIRED)
    env = {"WAYMARK_MODE": "kafka", **values}
    FieldCipher.from_settings(Settings.from_env("referral", env))
    Config.from_extra(Settings.from_env("scheduling", env).extra, embedded=False)
    assert not secret_keys.write_once(path)
    assert path.read_text() == first


@pytest.mark.parametrize("module", ["services.referral.wsgi", "services.scheduling.worker"])
def test_a_kafka_mode_process_refuses_to_start_and_names_the_variable(module) -> None:
    """What an operator sees: the process exits at once, before touching the broker or store."""
    env = {k: v for k, v in os.environ.items() if k not in secret_keys.REQUIRED}
    env |= {"WAYMARK_MODE": "kafka", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", f"import runpy; runpy.run_module({module!r}, run_name='__main__')"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode != 0
    assert "MissingSecret: WAYMARK_STAFF_TOKEN_SECRET is not set" in run.stderr
