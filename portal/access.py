"""Who may do what, beyond seeing it (seeing is `selectors.visible_to`). Each role rule is named
once here; services, pages and the API ask these. The moves on a customer's things are one table,
`RULES`, which tests/portal/test_role_table.py walks for every move, contact role and staff role."""

from dataclasses import dataclass

from portal.choices import ContactRole, Role
from portal.models import Contact, Organisation, User

C = ContactRole


@dataclass(frozen=True)
class Rule:
    """Who may make one move on an organisation's things: vendor staff by role, and the
    organisation's own users by the roles their contact holds. With `assigned`, an engineer only
    on what is assigned to them (the runs of their windows, or a run they took over); support and
    administrators on any. With `not_self`, never on one's own contact. EVERY_CONTACT: any user of
    the organisation, whatever their roles."""

    staff: frozenset[str] = frozenset()
    contacts: frozenset[str] = frozenset()
    assigned: bool = False
    not_self: bool = False


def _rule(staff=(), contacts=(), **kwargs) -> Rule:
    return Rule(frozenset(staff), frozenset(contacts), **kwargs)


VENDOR = (Role.SUPPORT, Role.ENGINEER, Role.ADMIN)
DESK = (Role.SUPPORT, Role.ADMIN)  # the support desk: requests, links, checks, windows
DRIVING = (Role.ENGINEER, Role.ADMIN)  # who drives a live upgrade
EVERY_CONTACT = ("*",)

RULES: dict[str, Rule] = {
    # The upgrade request (S8-S10): the customer's people ask, provide and book, and withdraw;
    # the desk reviews, books the prerequisite check, issues links and confirms windows.
    "request.create": _rule(DESK, EVERY_CONTACT),
    "request.withdraw": _rule(contacts=EVERY_CONTACT),
    "request.review": _rule(DESK),
    "request.record_check": _rule(VENDOR),
    "request.preflight": _rule(VENDOR, EVERY_CONTACT),
    "checklist.provide": _rule(VENDOR, EVERY_CONTACT),
    "link.manage": _rule(DESK),
    "window.book": _rule(DESK, EVERY_CONTACT),
    "window.change": _rule(DESK, EVERY_CONTACT),
    "window.confirm": _rule(DESK),
    "check.book": _rule(DESK),
    # The contact list (S10). Roles decide what a person may do, so nobody grants their own.
    "contact.edit": _rule(VENDOR, EVERY_CONTACT),
    "contact.grant_roles": _rule(DESK, [C.LEAD], not_self=True),
    "contact.remove": _rule(DESK, [C.LEAD], not_self=True),
    "contact.invite": _rule(DESK, [C.LEAD]),
    # The public status page of a deployment for the customer's own service users.
    "status_page.manage": _rule(DESK, [C.LEAD]),
    # The organisation's outgoing webhooks and chat messages (the vendor's own: the desk's).
    "webhook.manage": _rule(DESK, [C.LEAD]),
    # Before the start (S11): the customer's people confirm what is theirs; the engineer may
    # record the StreamDB backup they took; anyone of the upgrade may ask for the preflight.
    "run.snapshots": _rule(contacts=[C.LEAD, C.APPLICATION_ADMIN, C.SERVER_ADMIN]),
    "run.backup": _rule(DRIVING, [C.LEAD, C.APPLICATION_ADMIN, C.DATABASE_ADMIN], assigned=True),
    "run.preflight": _rule(VENDOR, EVERY_CONTACT),
    # Driving the run (S13-S16): its engineer; another engineer after taking it over, recorded.
    "run.start": _rule(DRIVING, assigned=True),
    "run.continue": _rule(DRIVING, assigned=True),
    "run.confirm_as_engineer": _rule(DRIVING, assigned=True),
    "run.take_failure": _rule(DRIVING, assigned=True),
    "run.take_over": _rule(DRIVING),
    "run.abort": _rule(VENDOR, assigned=True),
    # The customer's word (S12, S15, S17): the functionality tests and the sign-off by the
    # Cloudpaging administrator (the application administrator) or the lead; a rollback by the lead.
    "run.confirm_as_customer": _rule(contacts=[C.LEAD, C.APPLICATION_ADMIN]),
    "run.sign_off": _rule(contacts=[C.LEAD, C.APPLICATION_ADMIN]),
    "run.decide_rollback": _rule(contacts=[C.LEAD]),
    # The conversation on an upgrade: both sides write; internal notes are the vendor's own.
    "conversation.write": _rule(VENDOR, EVERY_CONTACT),
    "conversation.note_internal": _rule(VENDOR),
    "conversation.note_public": _rule(VENDOR),
}


def may(user: User, move: str, *, organisation_id: int, assignee_id: int | None = None,
        contact: Contact | None = None) -> bool:
    """Whether `user` may make `move` (a key of RULES) on the things of `organisation_id`:
    `assignee_id` is who the thing is assigned to (a run's engineer), `contact` the contact it is
    about. Whether the thing is in a state for the move is the service's to say."""
    rule = RULES[move]
    if not (user.is_authenticated and user.is_active):
        return False
    if rule.not_self and contact is not None and contact.pk == user.contact_id:
        return False
    if user.is_customer:
        roles = {"*", *(user.contact.roles or [])} if is_customer_of(user, organisation_id) else set()
        return not rule.contacts.isdisjoint(roles)
    if user.role not in rule.staff:
        return False
    return not (rule.assigned and user.role == Role.ENGINEER and assignee_id != user.pk)


def is_desk(user: User) -> bool:
    """The support desk: support and administrators work requests, links, checks and windows."""
    return user.is_authenticated and user.role in DESK


def is_driver(user: User) -> bool:
    """Who drives a live upgrade and confirms as "the Cloudpaging engineer": active engineers and
    administrators."""
    return user.is_authenticated and user.is_active and user.role in DRIVING


def is_customer_of(user: User, organisation_id: int) -> bool:
    """One of the organisation's own users (a customer account is one of its contacts)."""
    return user.is_authenticated and user.is_customer and user.organisation_id == organisation_id


def is_lead_of(user: User, organisation_id: int) -> bool:
    """The organisation's lead contact (S10), signed in as themselves."""
    return is_customer_of(user, organisation_id) and ContactRole.LEAD in user.contact.roles


def may_edit_contacts(user: User, organisation: Organisation) -> bool:
    """Vendor staff, and the customer's own users, keep the contact list current."""
    return may(user, "contact.edit", organisation_id=organisation.pk)


def may_grant_roles(user: User, organisation: Organisation, contact: Contact | None = None) -> bool:
    return may(user, "contact.grant_roles", organisation_id=organisation.pk, contact=contact)


def may_remove_contact(user: User, contact: Contact) -> bool:
    return may(user, "contact.remove", organisation_id=contact.organisation_id, contact=contact)


def may_manage_customers(user: User) -> bool:
    """Organisations, deployments and servers are registered by support and administrators."""
    return is_desk(user)


def may_rearm_demo(user: User) -> bool:
    """`make run`'s live upgrade demo is put back at its start by administrators only."""
    return user.is_authenticated and user.is_active and user.role == Role.ADMIN


def may_register_servers(user: User) -> bool:
    """Engineers register and correct the servers they will drive."""
    return user.is_authenticated and user.is_vendor


def may_manage_webhooks(user: User, organisation: Organisation | None) -> bool:
    """An organisation's webhooks: its lead and the desk; the vendor's own (no organisation):
    the desk."""
    if organisation is None:
        return is_desk(user) and user.is_active
    return may(user, "webhook.manage", organisation_id=organisation.pk)
