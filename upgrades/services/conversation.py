"""The line of communication on an upgrade ("an engineer will keep you informed"): the vendor's
people and the customer's contacts write on the request before the day and on the run during it.

A message on a run is also a live event of the run, so both sides see it appear on the live page
without a reload; an internal note is never an event (every watcher of a run receives its
events, the customer's people too) and is shown to the vendor's people alone.
"""

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from portal import access
from portal.models import User
from upgrades.choices import MessageVia
from upgrades.models import Message, Run, UpgradeRequest
from upgrades.services.events import event_emit

LONGEST = 4000
# Control characters other than the line break and the tab: a message is plain text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(body: str) -> str:
    body = _CONTROL.sub("", (body or "").replace("\r\n", "\n")).strip()
    if not body:
        raise ValidationError("Write the message first.")
    if len(body) > LONGEST:
        raise ValidationError(f"A message holds up to {LONGEST} characters; this one has {len(body)}.")
    return body


def message_post(*, upgrade: UpgradeRequest, by: User, body: str, internal: bool = False, run: Run | None = None,
                 via: str = MessageVia.PAGE) -> Message:
    """`by` writes on `upgrade`'s conversation (during `run`, when given). Internal notes are
    the vendor's own."""
    organisation_id = upgrade.deployment.organisation_id
    if not access.may(by, "conversation.write", organisation_id=organisation_id):
        raise PermissionDenied
    if internal and not access.may(by, "conversation.note_internal", organisation_id=organisation_id):
        raise PermissionDenied
    if run is not None and run.request_id != upgrade.pk:
        raise ValidationError("This run belongs to another upgrade.")
    body = _clean(body)
    with transaction.atomic():
        message = Message.objects.create(
            upgrade=upgrade, run=run, author=by, author_name=by.full_name or by.email, from_vendor=by.is_vendor,
            body=body, internal=internal, via=via,
        )
        if run is not None and not internal:
            event_emit(run=run, kind="message", actor=by, text=body, data={"message": message.pk, "from_vendor": message.from_vendor})
    return message
