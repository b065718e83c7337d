"""Invitations: a person gets an account by choosing their own password from a link mailed to
them; nobody types a password for someone else. Support, or an organisation's lead for its
contacts, invites a contact; an administrator invites vendor staff from the admin.

The link is signed and dated (INVITATION_DAYS) and names the account's current (unusable)
password hash, so it works once: choosing a password ends it, and so does a newer invitation,
which sets a new unusable password."""

import pghistory
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse

from portal import access, security, services
from portal.choices import Role
from portal.models import Contact, Organisation, User
from portal.notices import notice_enqueue
from portal.workflow import WorkflowError

SALT = "portal.invitation"
WHERE = {True: "your organisation and the vendor plan and follow your upgrades",
         False: "the vendor plans and runs its customers' upgrades"}


class InvitationRefused(Exception):
    """The link cannot be used (expired, used, or not one of ours): the reason is for the person."""


def _fingerprint(user: User) -> str:
    return user.password[-16:]


def invitation_link(user: User) -> str:
    token = signing.dumps({"user": user.pk, "password": _fingerprint(user)}, salt=SALT, compress=True)
    return settings.SITE_URL.rstrip("/") + reverse("invitation-accept", args=[token])


def invitation_send(*, user: User, by: User) -> User:
    """Mail `user` a link to choose their password. The account stays closed until they do; an
    earlier link stops working (the unusable password it names is replaced)."""
    if user.has_usable_password() and user.is_active:
        raise WorkflowError(f"{user.full_name or user.email} has an account already: they can reset their password.")
    with transaction.atomic(), pghistory.context(user=by.pk):
        user.set_unusable_password()
        user.is_active = False
        user.save(update_fields=["password", "is_active"])
        days = settings.INVITATION_DAYS
        notice_enqueue(
            key=f"invitation:{user.pk}:{_fingerprint(user)}", topic="invitation", recipients=[user.email],
            subject="Your upgrade portal account",
            body=(f"Hello {user.get_short_name()},\n\n{by.full_name} invites you to the upgrade portal, where "
                  f"{WHERE[user.is_customer]}.\nChoose your password with this link, within {days} days:\n\n"
                  f"{invitation_link(user)}\n\nYour log-in is this e-mail address. If you did not expect this, "
                  "ignore it: no account opens without you."),
        )
        security.record("invitation_sent", user=user, actor=by)
    return user


def contact_invite(*, contact: Contact, by: User) -> User:
    """An account for one of an organisation's contacts, opened by the invitation they accept."""
    if not access.may(by, "contact.invite", organisation_id=contact.organisation_id):
        raise PermissionDenied
    user = User.objects.filter(contact=contact).first()
    if user is None:
        if User.objects.filter(email__iexact=contact.email).exists():
            raise WorkflowError(f"{contact.email} is the log-in of another account: give the contact another address.")
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    contact.email, None, full_name=contact.name, role=Role.CUSTOMER, contact=contact,
                    time_zone=contact.time_zone, is_active=False,
                )
        except IntegrityError:
            raise WorkflowError("This contact was just invited by someone else.") from None
    return invitation_send(user=user, by=by)


def contact_add_invited(*, organisation: Organisation, by: User, **fields) -> Contact:
    """A new contact, invited at once: both, or neither when either is refused."""
    with transaction.atomic():
        contact = services.contact_create(organisation=organisation, by=by, **fields)
        contact_invite(contact=contact, by=by)
    return contact


def invitation_read(token: str) -> User:
    """The account a link invites to, or InvitationRefused with the reason."""
    try:
        claim = signing.loads(token, salt=SALT, max_age=settings.INVITATION_DAYS * 86400)
    except signing.SignatureExpired:
        raise InvitationRefused("This invitation has expired: ask whoever invited you, or support, for a new one.") from None
    except signing.BadSignature:
        raise InvitationRefused("This invitation link is not valid: use the link from your e-mail.") from None
    user = User.objects.filter(pk=claim.get("user")).first()
    if user is None or _fingerprint(user) != claim.get("password") or user.has_usable_password():
        raise InvitationRefused("This invitation has been used, or a newer one was sent: log in, or use the newest "
                                "link you received.")
    return user


def invitation_accept(*, token: str, password: str) -> User:
    """The person's own password: the account opens and the link stops working."""
    with transaction.atomic():
        user = invitation_read(token)
        locked = User.objects.select_for_update().get(pk=user.pk)
        if _fingerprint(locked) != _fingerprint(user):
            raise InvitationRefused("This invitation has just been used.")
        validate_password(password, locked)
        locked.set_password(password)
        locked.is_active = True
        with pghistory.context(user=locked.pk):
            locked.save(update_fields=["password", "is_active"])
        security.record("invitation_accepted", user=locked)
    return locked

