"""Email over SMTP (smtplib), plain text, one connection per message.

SMTP 5xx answers (unknown mailbox, policy refusal) are permanent; connection trouble
and 4xx answers are temporary and retried with backoff.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from services.notification.channels.base import DeliveryError, OutboundMessage
from services.notification.domain.contacts import mask

log = logging.getLogger(__name__)


class SmtpChannel:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        user: str = "",
        password: str = "",
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._user, self._password, self._starttls = user, password, starttls
        self._timeout_s = timeout_s

    def build(self, message: OutboundMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(idstring=message.delivery_id[:16], domain="waymark.invalid")
        email["X-Waymark-Delivery"] = message.delivery_id
        email.set_content(message.body, charset="utf-8")
        return email

    def send(self, message: OutboundMessage) -> str | None:
        email = self.build(message)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._user:
                    smtp.login(self._user, self._password)
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"recipient refused {codes}", permanent=all(c >= 500 for c in codes)
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"smtp {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp unavailable: {type(exc).__name__}") from None
        return str(email["Message-ID"])


class LogEmailChannel:
    """The embedded default when no SMTP relay is configured: logs that a mail would go out."""

    def send(self, message: OutboundMessage) -> str | None:
        log.info(
            "email (log transport)",
            extra={
                "to": mask("email", message.to),
                "subject": message.subject,
                "delivery": message.delivery_id,
            },
        )
        return None
