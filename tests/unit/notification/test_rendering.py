from __future__ import annotations

import pytest

from services.notification.rendering import TEMPLATE_DIR, Renderer, format_time

CONTEXT = {
    "case_id": "case-1",
    "appointment_id": "appt-1",
    "hospital_id": "hosp-a",
    "start": "2025-09-10T01:00:00Z",
    "previous_start": "2025-09-08T01:00:00Z",
    "offer_id": "offer-1",
    "slot_start": "2025-09-10T01:00:00Z",
    "hold_until": "2025-09-02T01:00:00Z",
    "answer_url": "https://s.example/ui/offer/t0ken",
    "days_before": 3,
    "contact_deadline": "2025-09-02T01:00:00Z",
    "contact_within_hours": 24,
    "stage": "realert",
    "task_id": "esc-1",
    "band": "P1",
    "waiting": 120,
    "capacity": 40,
    "predicted_wait_days": 90,
    "invitation_id": "qi_1",
    "due_by": "2025-09-10T01:00:00Z",
    "questionnaire_url": "https://a.example/q/t0ken",
}
TEMPLATES = sorted(p.stem for p in (TEMPLATE_DIR / "en").glob("*.j2"))
CLINICAL_WORDS = (
    "refus",
    "anxi",
    "depress",
    "self",
    "harm",
    "suicid",
    "psych",
    "mental",
    "拒绝上学",
    "焦虑",
    "抑郁",
    "自伤",
)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_in_both_languages(template, language):
    assert (TEMPLATE_DIR / language / f"{template}.j2").exists()
    text = Renderer().render(template, language, CONTEXT, "Asia/Shanghai")
    assert text["subject"] and text["email"] and text["sms"]
    assert len(text["sms"]) <= 320
    for body in (text["subject"], text["email"], text["sms"]):
        assert not any(word in body.lower() for word in CLINICAL_WORDS), (template, language, body)


def test_times_are_shown_in_the_recipients_zone_and_language():
    zh = Renderer().render("appointment_booked", "zh-CN", CONTEXT, "Asia/Shanghai")
    assert "2025年9月10日（星期三）09:00" in zh["email"]
    en = Renderer().render("appointment_booked", "en", CONTEXT, "Europe/London")
    assert "Wednesday 10 September 2025, 02:00" in en["email"]


def test_unknown_language_falls_back_to_english():
    text = Renderer().render("referral_received", "fr", CONTEXT, "UTC")
    assert text["subject"] == "We have received a referral"


@pytest.mark.parametrize(("language", "label"), [("en", "Accept or decline: "), ("zh-CN", "接受或拒绝：")])
def test_offer_carries_the_one_answer_link_in_email_and_sms(language, label):
    text = Renderer().render("offer_made", language, CONTEXT, "UTC")
    for body in (text["email"], text["sms"]):
        assert f"{label}{CONTEXT['answer_url']}" in body and body.count("https://") == 1


def test_format_time_accepts_datetimes_and_offsets():
    assert format_time("2025-09-10T09:00:00+08:00", "en", "Asia/Shanghai").endswith("09:00")
