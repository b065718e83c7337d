"""Writing to and delivering from the outbox (portal.models.Notice).

1. `notice_enqueue` writes one row per recipient inside the caller's transaction, with its
   delivery task in the task outbox (portal.dispatch): a rolled-back change mails nobody.
2. `notice_deliver` claims the row with a conditional UPDATE (`portal.outbox`: only a pending notice, or a failed
   one whose retry is due, can be claimed, by one worker), sends it over SMTP, and records sent
   or failed. A failed notice is retried with a growing delay.
3. `notices_sweep` (beat) re-sends what is due: failed notices, notices whose delivery message
   was lost with Redis, and notices claimed by a worker that died before recording the result.
   The Message-ID is derived from the notice, so in that last, rare case a second copy is
   recognised as the same message by mail clients.
"""

import base64
import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from portal.dispatch import dispatch
from portal.choices import NoticeState
from portal.models import Notice
from portal.outbox import Outbox, retry_delay

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
CLAIM_EXPIRES = timedelta(minutes=5)
OUTBOX = Outbox(Notice, pending=NoticeState.PENDING, sending=NoticeState.SENDING, retrying=NoticeState.FAILED,
                claim_expires=CLAIM_EXPIRES)
# Headers an app adds to the notices of a topic (the part before ":"), registered in its ready().
HEADERS: dict[str, Callable[[Notice], dict[str, str]]] = {}


def notice_enqueue(*, key: str, topic: str, recipients: list[str], subject: str, body: str,
                   attachments: list[dict] | None = None) -> list[Notice]:
    """Add the notices of one cause; recipients that already have it are left alone."""
    recipients = sorted({address.strip().lower() for address in recipients if address})
    existing = set(Notice.objects.filter(key=key, recipient__in=recipients).values_list("recipient", flat=True))
    fresh = [address for address in recipients if address not in existing]
    Notice.objects.bulk_create(
        [
            Notice(key=key, topic=topic, recipient=address, subject=subject, body=body,
                   attachments=attachments or [], next_attempt_at=timezone.now())
            for address in fresh
        ],
        ignore_conflicts=True,  # a concurrent enqueue of the same cause: the unique key decides
    )
    created = list(Notice.objects.filter(key=key, recipient__in=fresh, state=NoticeState.PENDING))
    for notice in created:
        dispatch("portal.notice_deliver", notice.pk, about=f"notice:{notice.pk}")
    return created


def _headers(notice: Notice) -> dict[str, str]:
    extra = HEADERS.get(notice.topic.split(":", 1)[0])
    return extra(notice) if extra else {}


def _message(notice: Notice) -> EmailMessage:
    message = EmailMessage(
        subject=notice.subject, body=notice.body, from_email=settings.DEFAULT_FROM_EMAIL, to=[notice.recipient],
        headers={"Message-ID": f"<notice-{notice.pk}-{notice.created_at:%Y%m%d%H%M%S}@upgrade-portal>",
                 **_headers(notice)},
    )
    for attachment in notice.attachments:
        content = attachment["content"]
        if attachment.get("encoding") == "base64":  # binary, e.g. a report's PDF
            content = base64.b64decode(content)
        message.attach(attachment["name"], content, attachment["content_type"])
    return message


def binary_attachment(*, name: str, content: bytes, content_type: str) -> dict:
    """An attachment of `notice_enqueue` whose content is bytes (a PDF), kept in JSON as base64."""
    return {"name": name, "content_type": content_type, "encoding": "base64",
            "content": base64.b64encode(content).decode("ascii")}


def notice_deliver(*, notice_id: int) -> str:
    """Send one notice if it is due; returns its state afterwards."""
    if not OUTBOX.claim(notice_id):
        return Notice.objects.filter(pk=notice_id).values_list("state", flat=True).first() or "missing"
    notice = Notice.objects.get(pk=notice_id)
    try:
        _message(notice).send(fail_silently=False)
    except Exception as error:  # noqa: BLE001 - SMTP and socket errors of every kind
        delay = retry_delay(notice.attempts)
        give_up = notice.attempts >= MAX_ATTEMPTS
        Notice.objects.filter(pk=notice.pk, state=NoticeState.SENDING).update(
            state=NoticeState.FAILED,
            last_error=f"{type(error).__name__}: {error}"[:1000],
            next_attempt_at=None if give_up else timezone.now() + delay,
        )
        log.warning("notice %s to %s failed (attempt %s): %s", notice.pk, notice.recipient, notice.attempts, error)
        return NoticeState.FAILED
    Notice.objects.filter(pk=notice.pk, state=NoticeState.SENDING).update(
        state=NoticeState.SENT, sent_at=timezone.now(), last_error=""
    )
    return NoticeState.SENT


def notices_due(*, limit: int = 200) -> list[int]:
    return OUTBOX.due(limit=limit)
