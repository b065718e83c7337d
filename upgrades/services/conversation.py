"""The line of communication on an upgrade ("an engineer will keep you informed"): the vendor's
people and the customer's contacts write on the request before the day and on the run during it.

A message on a run is also a live event of the run, so both sides see it appear on the live page
without a reload; an internal note is never an event (every watcher of a run receives its
events, the customer's people too) and is shown to the vendor's people alone.
"""

import re
from zoneinfo import ZoneInfo
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from portal import access, recipients
from portal.choices import NoticeKind
from portal.notices import notice_enqueue
from portal.models import User
from upgrades.choices import MessageVia, RunState
from upgrades.models import Message, Run, UpgradeRequest
from upgrades.runflow import FINISHED_RUN_STATES
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


def message_post(*, upgrade: UpgradeRequest, by: User, body: str, internal: bool = False, public: bool = False,
                 run: Run | None = None, via: str = MessageVia.PAGE) -> Message:
    """`by` writes on `upgrade`'s conversation (during `run`, when given). Internal notes are
    the vendor's own; so are public ones, written during the run for the status page too."""
    organisation_id = upgrade.deployment.organisation_id
    if not access.may(by, "conversation.write", organisation_id=organisation_id):
        raise PermissionDenied
    if internal and not access.may(by, "conversation.note_internal", organisation_id=organisation_id):
        raise PermissionDenied
    if public and not access.may(by, "conversation.note_public", organisation_id=organisation_id):
        raise PermissionDenied
    if run is not None and run.request_id != upgrade.pk:
        raise ValidationError("This run belongs to another upgrade.")
    if public and internal:
        raise ValidationError("A note is either internal or on the status page, not both.")
    if public and run is None:
        raise ValidationError("Updates for the status page are written during the upgrade, on its live page.")
    body = _clean(body)
    with transaction.atomic():
        message = Message.objects.create(
            upgrade=upgrade, run=run, author=by, author_name=by.full_name or by.email, from_vendor=by.is_vendor,
            body=body, internal=internal, public=public, via=via,
        )
        if run is not None and not internal:
            event_emit(run=run, kind="message", actor=by, text=body,
                       data={"message": message.pk, "from_vendor": message.from_vendor, "public": public})
        if not internal:
            _tell_the_other_side(message)
    return message


# -- Telling the other side ---------------------------------------------------------------------

TOPIC = "upgrades.conversation"


def _other_side(message: Message) -> recipients.People:
    """Who is told of a message: the customer's lead contacts and whoever asked for the upgrade,
    of the vendor's; the desk's assignee and the engineer of the upgrade's window, of the
    customer's. Never its writer, nor who chose not to hear of messages."""
    upgrade = message.upgrade
    if message.from_vendor:
        people = (recipients.contacts_who_may("run.decide_rollback", organisation_id=upgrade.deployment.organisation_id)
                  | recipients.of_users([upgrade.requested_by]))
    else:
        window = upgrade.windows.upgrades().holding().select_related("engineer").first()
        run = upgrade.runs.select_related("driver").order_by("-created_at").first()
        staff = [user for user in (upgrade.assignee, window and window.engineer, run and run.driver) if user]
        people = recipients.of_users(staff)
    for address in recipients.of_users([message.author]):
        people.pop(address, None)
    return recipients.wanting(people, NoticeKind.MESSAGE)


def _tell_the_other_side(message: Message) -> None:
    """One mail per person, in their zone, answered by replying to it (Reply-To: the upgrade's
    reply address, `reply_headers`)."""
    upgrade = message.upgrade
    page = settings.SITE_URL.rstrip("/") + (reverse("run-live", args=[message.run_id]) if message.run_id
                                            else reverse("request-detail", args=[upgrade.pk])) + "#conversation"
    subject = f"[{upgrade.deployment.organisation.name}] {message.author_name} wrote about the upgrade to " \
              f"{upgrade.release.version}"
    for address, zone in _other_side(message).items():
        written = timezone.localtime(message.written_at, ZoneInfo(zone))
        notice_enqueue(key=f"message:{message.pk}", topic=f"{TOPIC}:{upgrade.pk}", recipients=[address],
                       subject=subject, body=(
                           f"{message.author_name} wrote at {written:%H:%M %Z} on {written:%a %-d %b}:\n\n"
                           f"{message.body}\n\n"
                           f"Reply to this mail to answer, or write on the page: {page}\n"))


def reply_headers(notice) -> dict[str, str]:
    """notices.HEADERS for the conversation's mails: replies come back to the conversation."""
    return {"Reply-To": reply_address(UpgradeRequest(pk=int(notice.topic.partition(":")[2])))}


# -- Replies by e-mail -------------------------------------------------------------------------

REPLY_SALT = "upgrades.conversation.reply"
# Where a reply's quoted history begins: "On Tue, 1 Dec 2026, Erin Walsh wrote:", Outlook's
# "-----Original Message-----" and "From: ..." header block, or a line of "> " quoting.
_QUOTE_START = re.compile(r"^(On .+ wrote:|-{2,}\s*Original Message\s*-{2,}|From: .+|>.*)$", re.IGNORECASE)


def _seal(pk: int) -> str:
    return salted_hmac(REPLY_SALT, str(pk)).hexdigest()[:24]


def reply_address(upgrade: UpgradeRequest) -> str:
    """The address that brings an e-mail reply into `upgrade`'s conversation: sealed with the
    portal's secret, so it cannot be made up for another upgrade; lower-case letters and digits
    only, which every mail system carries as they are."""
    return f"reply+{upgrade.pk}.{_seal(upgrade.pk)}@{settings.REPLY_MAIL_DOMAIN}"


def _upgrade_addressed(recipients: list[str]) -> UpgradeRequest:
    for recipient in recipients:
        local, _, domain = recipient.strip().lower().rpartition("@")
        if domain != settings.REPLY_MAIL_DOMAIN.lower() or not local.startswith("reply+"):
            continue
        pk, _, seal = local.removeprefix("reply+").partition(".")
        upgrade = UpgradeRequest.objects.select_related("deployment").filter(pk=int(pk)).first() \
            if pk.isdigit() and constant_time_compare(seal, _seal(int(pk))) else None
        if upgrade is None:
            raise ValidationError(f"{recipient} is not the reply address of any upgrade.")
        return upgrade
    raise ValidationError("The message is not addressed to an upgrade's reply address.")


def _writer(address: str, upgrade: UpgradeRequest) -> User:
    """The person who sent it: a user by their log-in address, or a contact of the upgrade's
    organisation by the contact's own address."""
    users = User.objects.filter(is_active=True)
    found = (users.filter(email__iexact=address).first()
             or users.filter(contact__organisation_id=upgrade.deployment.organisation_id,
                             contact__email__iexact=address).first())
    if found is None:
        raise ValidationError(f"{address} is not someone of this upgrade: the reply is not added.")
    return found


def _reply_text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    if part is None:
        raise ValidationError("The reply has no plain text to add.")
    kept = []
    for line in part.get_content().splitlines():
        if _QUOTE_START.match(line.strip()):
            break
        kept.append(line)
    return "\n".join(kept)


def message_from_mail(raw: bytes, *, recipients: list[str] | None = None) -> Message:
    """A reply by e-mail, added to the conversation it answers as its sender's message: the
    upgrade from the reply address (the envelope's recipients, else the To and Cc headers), the
    writer from the From address, the text without the quoted mail below it."""
    mail = BytesParser(policy=policy.default).parsebytes(raw)
    addressed = recipients or [address.addr_spec for header in ("to", "cc") for address in
                               getattr(mail.get(header), "addresses", ())]
    upgrade = _upgrade_addressed(addressed)
    sender = mail.get("from")
    if sender is None or not sender.addresses:
        raise ValidationError("The reply says nobody as its sender.")
    writer = _writer(sender.addresses[0].addr_spec, upgrade)
    run = upgrade.runs.exclude(state__in=FINISHED_RUN_STATES).exclude(state=RunState.SCHEDULED).first()
    return message_post(upgrade=upgrade, by=writer, body=_reply_text(mail), run=run, via=MessageVia.MAIL)
