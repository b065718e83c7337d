"""Writes to customers and their fleets. One transaction each; the audit trail is written by
PostgreSQL triggers (pghistory) with the acting user as context, whoever calls: page, API,
admin or task."""

from contextlib import contextmanager

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from portal import access, credentials, security
from portal.choices import ContactRole
from portal.models import Contact, Deployment, Organisation, Server, ServerGroup, User

ROLES_REFUSED = "Only support, or your organisation's lead contact, gives people their roles; nobody their own."


@contextmanager
def _write(by: User):
    with transaction.atomic(), pghistory.context(user=by.pk):
        yield


def _save(obj, **fields):
    for name, value in fields.items():
        setattr(obj, name, value)
    # Database constraints carry the rules; full_clean turns them into per-field messages
    # before the row reaches PostgreSQL.
    obj.full_clean()
    obj.save()
    return obj


def organisation_create(*, by: User, **fields) -> Organisation:
    if not access.may_manage_customers(by):
        raise PermissionDenied
    with _write(by):
        return _save(Organisation(), **fields)


def organisation_update(*, organisation: Organisation, by: User, **fields) -> Organisation:
    if not access.may_manage_customers(by):
        raise PermissionDenied
    with _write(by):
        return _save(organisation, **fields)


def contact_create(*, organisation: Organisation, by: User, **fields) -> Contact:
    if not access.may_edit_contacts(by, organisation):
        raise PermissionDenied
    if fields.get("roles") and not access.may_grant_roles(by, organisation):
        raise PermissionDenied(ROLES_REFUSED)
    with _write(by):
        contact = _save(Contact(organisation=organisation), **fields)
        if contact.roles:
            _roles_changed(contact, by=by, before=[])
        return contact


def contact_update(*, contact: Contact, by: User, **fields) -> Contact:
    if not access.may_edit_contacts(by, contact.organisation):
        raise PermissionDenied
    fields.pop("organisation", None)  # a contact never moves to another customer
    # The roles as stored: a model form has already written the new ones on `contact`.
    before = list(Contact.objects.values_list("roles", flat=True).get(pk=contact.pk))
    regranted = "roles" in fields and set(fields["roles"]) != set(before)
    if regranted and not access.may_grant_roles(by, contact.organisation, contact):
        raise PermissionDenied(ROLES_REFUSED)
    with _write(by):
        if regranted and ContactRole.LEAD not in fields["roles"]:
            _keep_a_lead(contact, "roles")
        contact = _save(contact, **fields)
        if regranted:
            _roles_changed(contact, by=by, before=before)
        return contact


def _roles_changed(contact: Contact, *, by: User, before: list[str]) -> None:
    security.record("roles_changed", user=User.objects.filter(contact=contact).first(), email=contact.email, actor=by,
                    contact=contact.pk, before=",".join(before), after=",".join(contact.roles))


def _keep_a_lead(leaving: Contact, field: str | None = None) -> None:
    """An organisation keeps at least one lead contact (S10: the lead authorises rollbacks). The
    leads are locked first, so two leads cannot each remove the other at once."""
    if not Contact.objects.filter(pk=leaving.pk, roles__contains=[ContactRole.LEAD]).exists():
        return  # not a lead as stored: no lead leaves
    leads = Contact.objects.select_for_update().filter(organisation_id=leaving.organisation_id,
                                                      roles__contains=[ContactRole.LEAD])
    if [lead.pk for lead in leads] == [leaving.pk]:
        message = f"{leaving.name} is the organisation's only lead contact: make another person lead first."
        raise ValidationError({field: message} if field else message)


def contact_delete(*, contact: Contact, by: User) -> None:
    """Support, or the organisation's lead, removes a person. Their portal account, if they have
    one, is disabled and kept, with all it did."""
    account = User.objects.filter(contact=contact).first()
    if account is not None and account.pk == by.pk:
        raise ValidationError("You cannot remove yourself: ask a colleague or support.")
    if not access.may_remove_contact(by, contact):
        raise PermissionDenied("Only support, or your organisation's lead contact, removes a person.")
    with _write(by):
        _keep_a_lead(contact)
        if account is not None:
            account.is_active, account.contact = False, None
            account.save(update_fields=["is_active", "contact"])
        contact.delete()


def deployment_create(*, organisation: Organisation, by: User, **fields) -> Deployment:
    if not access.may_manage_customers(by):
        raise PermissionDenied
    with _write(by):
        return _save(Deployment(organisation=organisation), **fields)


def deployment_update(*, deployment: Deployment, by: User, **fields) -> Deployment:
    if not access.may_manage_customers(by):
        raise PermissionDenied
    fields.pop("organisation", None)
    with _write(by):
        return _save(deployment, **fields)


def group_create(*, deployment: Deployment, by: User) -> ServerGroup:
    """Add the next group to the deployment (S5: groups are upgraded in this order)."""
    if not access.may_register_servers(by):
        raise PermissionDenied
    with _write(by):
        # Lock the deployment so two additions at once get consecutive positions.
        Deployment.objects.select_for_update().get(pk=deployment.pk)
        last = deployment.groups.order_by("-position").values_list("position", flat=True).first() or 0
        return ServerGroup.objects.create(deployment=deployment, position=last + 1)


def _check_group(server: Server) -> None:
    if server.group_id and server.group.deployment_id != server.deployment_id:
        raise ValidationError({"group": "This group belongs to another deployment."})


def server_create(*, deployment: Deployment, by: User, secret: str = "", **fields) -> Server:
    if not access.may_register_servers(by):
        raise PermissionDenied
    with _write(by):
        server = Server(deployment=deployment, **fields)
        _check_group(server)
        server.secret_token = credentials.seal(secret)
        return _save(server)


def server_update(*, server: Server, by: User, secret: str | None = None, **fields) -> Server:
    """`secret=None` keeps the stored credential; "" removes it; anything else replaces it."""
    if not access.may_register_servers(by):
        raise PermissionDenied
    fields.pop("deployment", None)
    with _write(by):
        for name, value in fields.items():
            setattr(server, name, value)
        _check_group(server)
        if secret is not None:
            server.secret_token = credentials.seal(secret)
        return _save(server)


def server_delete(*, server: Server, by: User) -> None:
    if not access.may_register_servers(by):
        raise PermissionDenied
    with _write(by):
        server.delete()


def credentials_rotate() -> int:
    """Re-encrypt every stored server credential with the newest key. Returns how many."""
    rotated = 0
    with transaction.atomic():
        for server in Server.objects.select_for_update().exclude(secret_token="").order_by("pk"):
            server.secret_token = credentials.rotate(server.secret_token)
            server.save(update_fields=["secret_token"])
            rotated += 1
    return rotated
