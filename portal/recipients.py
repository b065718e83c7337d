"""Who is mailed, at which address, and on which clock: one mail per person and cause.

A customer's person is one of the organisation's contacts. One who logs in has an account whose
address may differ from the contact's (the demo's leads log in as lead@<organisation>), and is
mailed at the contact's address, with times in the contact's zone, however they were found.
Vendor staff are mailed at their account's address, in their account's zone.

Each function answers {address: zone}, addresses in lower case, so people found twice are one.
"""

from collections.abc import Iterable

from django.db.models import QuerySet

from portal.access import EVERY_CONTACT, RULES
from portal.models import Contact, User

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
