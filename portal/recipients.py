"""Who is mailed, at which address, and on which clock: one mail per person and cause.

A customer's person is one of the organisation's contacts. One who logs in has an account whose
address may differ from the contact's (the demo's leads log in as lead@<organisation>), and is
mailed at the contact's address, with times in the contact's zone, however they were found.
Vendor staff are mailed at their account's address, in their account's zone.

Each function answers {address: zone}, addresses in lower case, so people found twice are one.
`wanting` takes away those who chose not to get a kind of notice, where their role lets them.
"""

from collections.abc import Iterable
from typing import NamedTuple

from django.db.models import QuerySet

from portal.access import EVERY_CONTACT, RULES
from portal.choices import ContactRole, NoticeKind, Role
from portal.models import Contact, NoticePreference, User

People = dict[str, str]


def _address(email: str) -> str:
    return email.strip().lower()


def of_contacts(contacts: QuerySet[Contact]) -> People:
    return {_address(email): zone for email, zone in contacts.values_list("email", "time_zone")}


def of_users(users: Iterable[User]) -> People:
    people: People = {}
    for user in users:
        contact = user.contact
        if contact is not None:
            people[_address(contact.email)] = contact.time_zone
        else:
            people[_address(user.email)] = user.time_zone
    return people


def contacts_of(organisation_id: int) -> People:
    """Every contact of the organisation (S10: each role is told)."""
    return of_contacts(Contact.objects.filter(organisation_id=organisation_id))


def contacts_who_may(move: str, *, organisation_id: int) -> People:
    """The organisation's contacts whose roles allow `move` (a key of `portal.access.RULES`):
    whoever is asked to make it."""
    roles = RULES[move].contacts
    contacts = Contact.objects.filter(organisation_id=organisation_id)
    if roles.isdisjoint(EVERY_CONTACT):
        contacts = contacts.filter(roles__overlap=sorted(roles))
    return of_contacts(contacts)


# -- Who chooses what -------------------------------------------------------------------------


class Must(NamedTuple):
    """A role (and, for a customer, a contact role) that must receive a kind of notice, and why."""

    role: str
    contact_role: str | None
    reason: str


# What a role must receive, whatever the person chose: the people a failure or a rollback waits for.
MANDATORY: dict[str, list[Must]] = {
    NoticeKind.RUN_PAUSED: [
        Must(Role.CUSTOMER, ContactRole.LEAD, "The lead contact is available for the whole window and hears "
                                              "of every failure."),
        Must(Role.SUPPORT, None, "The support desk answers every failure of a run."),
    ],
    NoticeKind.FAILURE_ESCALATED: [
        Must(Role.SUPPORT, None, "A failure nobody has taken is the support desk's to answer."),
    ],
    NoticeKind.ROLLBACK: [
        Must(Role.CUSTOMER, ContactRole.LEAD, "Only the lead contact can authorise or refuse a rollback."),
    ],
}

# The kinds of notice each role may be sent, in the order the account page lists them.
KINDS_OF_ROLE: dict[str, list[str]] = {
    Role.CUSTOMER: [NoticeKind.RUN_STARTED, NoticeKind.RUN_PAUSED, NoticeKind.ROLLBACK, NoticeKind.RUN_ENDED,
                    NoticeKind.MESSAGE],
    Role.ENGINEER: [NoticeKind.RUN_STARTED, NoticeKind.ROLLBACK, NoticeKind.RUN_ENDED, NoticeKind.MESSAGE],
    Role.SUPPORT: [NoticeKind.RUN_PAUSED, NoticeKind.FAILURE_ESCALATED, NoticeKind.MESSAGE],
    Role.ADMIN: [],
}


def must_receive(user: User, kind: str) -> str:
    """Why `user` must receive `kind` whatever they choose; empty when it is theirs to choose."""
    contact_roles = set(user.contact.roles) if user.contact_id else set()
    for must in MANDATORY.get(kind, []):
        if user.role == must.role and (must.contact_role is None or must.contact_role in contact_roles):
            return must.reason
    return ""


def wanting(people: People, kind: str) -> People:
    """`people` less those who switched `kind` off, where their role lets them: every sender of
    a notice that follows a run asks here."""
    kept = dict(people)
    refusing = NoticePreference.objects.filter(kind=kind, wanted=False, user__is_active=True).select_related(
        "user__contact")
    for preference in refusing:
        if must_receive(preference.user, kind):
            continue
        for address in of_users([preference.user]):
            kept.pop(address, None)
    return kept
