"""Webhook registration (secret shown once) and the notification service's contacts route."""

from __future__ import annotations

import pytest

from tests.support.secrets_env import kafka_settings


def test_register_shows_the_secret_once(client, school_a):
    response = client.put(
        "/v1/webhook", json={"url": "https://school-a.example.cn/waymark"}, headers=school_a
    )
    assert response.status_code == 201
    assert response.json["secret"].startswith("whsec_")
    shown = client.get("/v1/webhook", headers=school_a).json
    assert shown["url"] == "https://school-a.example.cn/waymark" and "secret" not in shown
    assert client.delete("/v1/webhook", headers=school_a).status_code == 204
    assert client.get("/v1/webhook", headers=school_a).status_code == 404


def test_webhook_url_is_validated(client, school_a, settings, db, clock):
    from services.referral.bootstrap import build

    for body in [{"url": "not a url"}, {"url": "ftp://x.example"}, {"url": "https://x.example", "extra": 1}]:
        assert client.put("/v1/webhook", json=body, headers=school_a).status_code == 422
    stack = build(kafka_settings("referral"), db=db, clock=clock).app.test_client()
    response = stack.put("/v1/webhook", json={"url": "http://plain.example/hook"}, headers=school_a)
    assert response.status_code == 422 and "url" in response.json["error"]["fields"]


def test_contacts_need_a_service_token(client, submit, staff, school_a):
    case_id = submit()
    url = f"/internal/v1/cases/{case_id}/contacts"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=school_a).status_code == 401
    clinician = staff.issue("dr-li", "clinician")
    assert client.get(url, headers={"Authorization": f"Bearer {clinician}"}).status_code == 403


def test_contacts_are_decrypted_for_the_notification_service(client, submit, staff, school_a):
    case_id = submit()
    secret = client.put("/v1/webhook", json={"url": "https://school-a.example.cn/w"}, headers=school_a).json[
        "secret"
    ]
    token = staff.issue("notification", "service")
    response = client.get(
        f"/internal/v1/cases/{case_id}/contacts", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    body = response.json
    assert body["guardians"][0]["phone"] == "+8613800138000"
    assert body["guardians"][0]["email"] == "wang.fang@example.cn"
    consent = body["guardians"][0]["consent"]
    assert consent["scope"] == ["referral", "contact_by_sms"]
    assert consent["sms"] is True and consent["email"] is False
    assert body["language"] == "zh-CN"
    assert body["school"] == {
        "school_id": "school-a",
        "webhook_url": "https://school-a.example.cn/w",
        "webhook_secret": secret,
    }
    missing = client.get("/internal/v1/cases/c_nope/contacts", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404


def test_openapi_is_generated_from_the_schemas(client):
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert {
        "/v1/referrals",
        "/v1/referrals/{case_id}",
        "/v1/referrals/{case_id}/withdraw",
        "/v1/referrals/{case_id}/attendance",
        "/v1/referrals/{case_id}/fhir",
        "/v1/webhook",
        "/internal/v1/cases/{case_id}/contacts",
    } <= set(spec["paths"])
    referral = spec["components"]["schemas"]["Referral"]
    assert {"student", "guardians", "absence", "concerns", "risk_indicators"} <= set(referral["properties"])
    assert client.get("/docs").status_code == 200


def test_the_notification_service_reads_the_answer(client, submit, staff, school_a):
    """The consumer's own parser (services.notification.domain.contacts.from_json) understands us."""
    from_json = pytest.importorskip("services.notification.domain.contacts").from_json

    case_id = submit()
    secret = client.put("/v1/webhook", json={"url": "https://school-a.example.cn/w"}, headers=school_a).json[
        "secret"
    ]
    token = staff.issue("notification", "service")
    answer = client.get(
        f"/internal/v1/cases/{case_id}/contacts", headers={"Authorization": f"Bearer {token}"}
    )
    contacts = from_json(answer.json)
    [mother] = contacts.guardians
    assert mother.address("sms") == "+8613800138000" and mother.address("email") is None
    assert mother.language == "zh-CN"
    assert (
        contacts.school.webhook_url == "https://school-a.example.cn/w"
        and contacts.school.webhook_secret == secret
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://0.0.0.0/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://169.254.10.1/hook",
        "https://10.0.0.5/hook",
        "https://172.16.3.4/hook",
        "https://192.168.1.1/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://2130706433/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://user:pass@school-a.example.cn/hook",
    ],
)
def test_webhook_registration_refuses_internal_targets(client, school_a, url):
    """Issue 11 item 6: no SSRF through a school's webhook URL; the 422 names the field."""
    response = client.put("/v1/webhook", json={"url": url}, headers=school_a)
    assert response.status_code == 422, url
    assert "url" in response.json["error"]["fields"]


def test_loopback_webhooks_only_behind_the_explicit_flag(school_a, settings, db, clock):
    from services.referral.bootstrap import build

    url = {"url": "https://127.0.0.1:9443/hook"}
    plain = build(kafka_settings("referral"), db=db, clock=clock).app.test_client()
    assert plain.put("/v1/webhook", json=url, headers=school_a).status_code == 422
    flagged = kafka_settings("referral", extra={"REFERRAL_ALLOW_LOOPBACK_WEBHOOKS": "1"})
    allowed = build(flagged, db=db, clock=clock).app.test_client()
    assert allowed.put("/v1/webhook", json=url, headers=school_a).status_code == 201
    private = {"url": "https://10.1.2.3/hook"}
    assert allowed.put("/v1/webhook", json=private, headers=school_a).status_code == 422
