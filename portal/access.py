"""Who may do what, beyond seeing it (seeing is `selectors.visible_to`). Each role rule is named
once here; services, pages and the API ask these."""

from portal.choices import ContactRole, Role
from portal.models import Contact, Organisation, User


def is_desk(user: User) -> bool:
    """The support desk: support and administrators work requests, links, checks and windows."""
    return user.is_authenticated and user.role in (Role.SUPPORT, Role.ADMIN)


def is_driver(user: User) -> bool:
    """Who drives a live upgrade and confirms as "the Cloudpaging engineer": active engineers and
    administrators."""
    return user.is_authenticated and user.is_active and user.role in (Role.ENGINEER, Role.ADMIN)


def is_customer_of(user: User, organisation_id: int) -> bool:
    """One of the organisation's own users (a customer account is one of its contacts)."""
    return user.is_authenticated and user.is_customer and user.organisation_id == organisation_id


def is_lead_of(user: User, organisation_id: int) -> bool:
    """The organisation's lead contact (S10), signed in as themselves."""
    return is_customer_of(user, organisation_id) and ContactRole.LEAD in user.contact.roles


def may_edit_contacts(user: User, organisation: Organisation) -> bool:
    """Vendor staff, and the customer's own users, keep the contact list current."""
    return user.is_vendor or is_customer_of(user, organisation.pk)


def may_grant_roles(user: User, organisation: Organisation, contact: Contact | None = None) -> bool:
    """A person's roles decide what they may do (the lead authorises a rollback): the desk gives
    them, and the organisation's lead for the others, never for themselves."""
    if is_desk(user):
        return True
    return is_lead_of(user, organisation.pk) and (contact is None or contact.pk != user.contact_id)


def may_remove_contact(user: User, contact: Contact) -> bool:
    """The desk, and the organisation's lead for the others."""
    return is_desk(user) or (is_lead_of(user, contact.organisation_id) and contact.pk != user.contact_id)


def may_manage_customers(user: User) -> bool:
    """Organisations, deployments and servers are registered by support and administrators."""
    return is_desk(user)


def may_register_servers(user: User) -> bool:
    """Engineers register and correct the servers they will drive."""
    return user.is_authenticated and user.is_vendor
