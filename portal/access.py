"""Who may change what, beyond seeing it (seeing is `selectors.visible_to`)."""

from portal.choices import Role
from portal.models import Organisation, User


def may_edit_contacts(user: User, organisation: Organisation) -> bool:
    """Vendor staff, and the customer's own users, keep the contact list current."""
    if user.is_vendor:
        return True
    return user.is_customer and user.organisation_id == organisation.pk


def may_manage_customers(user: User) -> bool:
    """Organisations, deployments and servers are registered by support and administrators."""
    return user.is_authenticated and user.role in (Role.SUPPORT, Role.ADMIN)


def may_register_servers(user: User) -> bool:
    """Engineers register and correct the servers they will drive."""
    return user.is_authenticated and user.is_vendor
