"""Message text from Jinja2 templates in the recipient's language (zh-CN or en; fallback en).

One template file per message and language (``templates/<lang>/<name>.j2``) with
``subject``, ``email`` and ``sms`` blocks, so the two languages of one message are
reviewed side by side. Times are shown in the recipient's zone. Webhook bodies are
JSON, not templates: schools' systems parse them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

TEMPLATE_DIR = Path(__file__).parent / "templates"
FALLBACK_LANGUAGE = "en"
TIME_FIELDS = (
    "start",
    "end",
    "previous_start",
    "slot_start",
    "slot_end",
    "hold_until",
    "contact_deadline",
    "due_by",
)
WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "zh-CN": ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"),
}


def format_time(value: str | datetime, language: str, tz: str) -> str:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    local = moment.astimezone(ZoneInfo(tz))
    weekday = WEEKDAYS.get(language, WEEKDAYS["en"])[local.weekday()]
    if language == "zh-CN":
        return f"{local.year}年{local.month}月{local.day}日（{weekday}）{local:%H:%M}"
    return f"{weekday} {local.day} {local:%B %Y}, {local:%H:%M}"


class Renderer:
    def __init__(self, template_dir: Path = TEMPLATE_DIR) -> None:
        self._env = Environment(
            loader=FileSystemLoader(str(template_dir)),
            autoescape=False,  # plain-text email and SMS; webhooks are JSON, never templates
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, language: str, context: Mapping[str, Any], tz: str) -> dict[str, str]:
        """``{"subject", "email", "sms"}`` for the message, in ``language`` when it exists, else en."""
        try:
            tmpl = self._env.get_template(f"{language}/{template}.j2")
        except TemplateNotFound:
            language = FALLBACK_LANGUAGE
            tmpl = self._env.get_template(f"{language}/{template}.j2")
        values = dict(context)
        for key in TIME_FIELDS:
            if values.get(key):
                values[f"{key}_text"] = format_time(values[key], language, tz)
        out = {}
        for block in ("subject", "email", "sms"):
            render_block = tmpl.blocks.get(block)
            text = "".join(render_block(tmpl.new_context(values))) if render_block else ""
            out[block] = text.strip()
        return out


def webhook_body(
    delivery_id: str, case_id: str, school_id: str, context: Mapping[str, Any], occurred_at: str
) -> str:
    """The JSON a school receives: ids, a status and (for bookings) the appointment time."""
    payload = {
        "id": delivery_id,
        "type": "case.status_changed",
        "case_id": case_id,
        "school_id": school_id,
        "occurred_at": occurred_at,
        **dict(context),
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
