"""Writes to customers and their fleets. One transaction each; the audit trail is written by
PostgreSQL triggers (pghistory) with the acting user as context, whoever calls: page, API,
admin or task."""

import ipaddress
from contextlib import contextmanager
from datetime import timedelta

import pghistory
from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from portal import access, credentials, security, selectors, tokens
from portal.choices import ContactRole, NoticeKind, TokenScope
from portal.models import (
    ApiToken, CalendarFeed, Contact, Deployment, NoticePreference, Organisation, Server, ServerGroup, User,
    UserSession, WebhookEndpoint,
)
from portal.recipients import KINDS_OF_ROLE, must_receive
from portal.workflow import WorkflowError

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


# What a run under way acts on: which servers are in which group, and how each is reached. A
# scheduled run plans again at its start (upgrades.services.runs.run_start), so before it
# starts the fleet may change; the credentials may change at any time.
KEPT_WHILE_UPGRADING = {"group": "group", "role": "role", "hostname": "host name", "address": "address",
                        "port": "port", "driver": "driver"}


def _run_under_way(deployment: Deployment) -> str:
    """The state of the deployment's run that has started and not finished, or "". Its runs not
    finished stay locked until the caller's transaction ends, so none starts meanwhile."""
    states = list(deployment.runs.select_for_update().filter(state__in=selectors.RUN_NOT_FINISHED)
                  .order_by("pk").values_list("state", flat=True))
    return next((state for state in states if state in selectors.RUN_UNDER_WAY), "")


def _upgrading(deployment: Deployment, state: str) -> str:
    return f"{deployment.name} is being upgraded now (its run is {state})"


def registering_refused(deployment: Deployment, state: str) -> str:
    """Why no server is registered while the deployment's run is `state` (under way)."""
    return (f"{_upgrading(deployment, state)}: a server is registered once the run has ended, so that every "
            "server is upgraded alike.")


def _check_group(server: Server) -> None:
    if server.group_id and server.group.deployment_id != server.deployment_id:
        raise ValidationError({"group": "This group belongs to another deployment."})


def _close_gap(deployment: Deployment, group_id: int | None) -> int | None:
    """Remove the group `group_id` if no server is left in it, and move the groups after it up
    one: the procedure upgrades groups 1..N, each with servers (upgrades.procedure). Returns
    the position the removed group had, or None when it keeps servers (or there was none)."""
    if group_id is None or Server.objects.filter(group_id=group_id).exists():
        return None
    group = ServerGroup.objects.filter(pk=group_id, deployment=deployment).first()
    if group is None:
        return None
    position = group.position
    group.delete()
    # One row at a time, lowest first: each position is free when a group takes it.
    for later in deployment.groups.filter(position__gt=position).order_by("position"):
        later.position -= 1
        later.save(update_fields=["position"])
    return position


def server_create(*, deployment: Deployment, by: User, secret: str = "", **fields) -> Server:
    if not access.may_register_servers(by):
        raise PermissionDenied
    with _write(by):
        if state := _run_under_way(Deployment.objects.select_for_update().get(pk=deployment.pk)):
            raise WorkflowError(registering_refused(deployment, state))
        server = Server(deployment=deployment, **fields)
        _check_group(server)
        server.secret_token = credentials.seal(secret)
        return _save(server)


def server_register(*, deployment: Deployment, by: User, group: ServerGroup | None, secret: str = "",
                    **fields) -> Server:
    """A server into one of the deployment's groups or, with `group=None`, into a new group after
    the last; a refused server leaves no empty group behind."""
    with transaction.atomic():
        if group is None:
            group = group_create(deployment=deployment, by=by)
        return server_create(deployment=deployment, by=by, group=group, secret=secret, **fields)


def server_update(*, server: Server, by: User, secret: str | None = None, new_group: bool = False,
                  **fields) -> Server:
    """Correct a registered server. `secret=None` keeps the stored credential; "" removes it;
    anything else replaces it. `new_group=True` moves it into a new group after the last. A
    group it leaves empty is removed and the groups after it move up (`_close_gap`).

    While the deployment is being upgraded, the run acts on the servers as they are: a change of
    what KEPT_WHILE_UPGRADING names is refused (WorkflowError) and nothing changes; the
    credential and the SSH host key may still be corrected."""
    if not access.may_register_servers(by):
        raise PermissionDenied
    fields.pop("deployment", None)
    with _write(by):
        deployment = Deployment.objects.select_for_update().get(pk=server.deployment_id)
        # As stored: a model form has already written what was posted on `server`.
        stored = Server.objects.select_for_update().get(pk=server.pk)
        changed = _kept_fields_changed(stored, fields, new_group=new_group)
        if changed and (state := _run_under_way(deployment)):
            raise WorkflowError(f"{_upgrading(deployment, state)}: the {_and(changed)} of {stored.hostname} cannot "
                                "change until the run has ended. Its user name, password and SSH host key can.")
        if new_group:
            fields["group"] = group_create(deployment=deployment, by=by)
        for name, value in fields.items():
            setattr(server, name, value)
        _check_group(server)
        if secret is not None:
            server.secret_token = credentials.seal(secret)
        _save(server)
        if secret or (secret == "" and stored.secret_token):
            # The history tables never hold the credential, so its change is recorded here.
            change = "removed" if not secret else "replaced" if stored.secret_token else "added"
            security.record("server_credential_changed", actor=by, server=server.hostname,
                            deployment=deployment.pk, change=change)
        if stored.group_id != server.group_id:
            _close_gap(deployment, stored.group_id)
            if server.group_id:
                server.group.refresh_from_db()  # it may have moved up
        return server


def _kept_fields_changed(stored: Server, fields: dict, *, new_group: bool) -> list[str]:
    """Which of KEPT_WHILE_UPGRADING `fields` (and `new_group`) would change on `stored`."""
    changed = []
    for name in KEPT_WHILE_UPGRADING:
        if name == "group":
            group = fields.get("group")
            if new_group or ("group" in fields and (group.pk if group else None) != stored.group_id):
                changed.append(name)
        elif name in fields and fields[name] != getattr(stored, name):
            changed.append(name)
    return changed


def _and(names: list[str]) -> str:
    words = [KEPT_WHILE_UPGRADING[name] for name in names]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def server_remove(*, server: Server, by: User) -> int | None:
    """Remove a server: a mistake, or a machine taken out of service. Its history stays: the
    audit trail records the removal and who made it, and past runs keep their steps, log and
    report, which name servers by host name. Refused while the deployment is being upgraded.
    A group left empty is removed and the groups after it move up: returns the position it had,
    or None."""
    if not access.may_register_servers(by):
        raise PermissionDenied
    with _write(by):
        deployment = Deployment.objects.select_for_update().get(pk=server.deployment_id)
        if state := _run_under_way(deployment):
            raise WorkflowError(f"{_upgrading(deployment, state)}: {server.hostname} cannot be removed until the "
                                "run has ended.")
        try:
            stored = Server.objects.select_for_update().get(pk=server.pk)
        except Server.DoesNotExist:
            raise WorkflowError(f"{server.hostname} was removed already.") from None
        stored.delete()  # no row refers to a server: runs name servers by host name
        return _close_gap(deployment, stored.group_id)


def credentials_rotate() -> int:
    """Re-encrypt every stored server credential, identity provider's client secret and webhook
    endpoint's address and secrets with the newest key. Returns how many rows."""
    rotated = 0
    with transaction.atomic():
        for server in Server.objects.select_for_update().exclude(secret_token="").order_by("pk"):
            server.secret_token = credentials.rotate(server.secret_token)
            server.save(update_fields=["secret_token"])
            rotated += 1
        for app in SocialApp.objects.select_for_update().exclude(secret="").order_by("pk"):
            app.secret = credentials.rotate(app.secret)
            app.save(update_fields=["secret"])
            rotated += 1
        for endpoint in WebhookEndpoint.objects.select_for_update().order_by("pk"):
            sealed = ["url_sealed", "secret_sealed", "previous_secret_sealed"]
            for field in sealed:
                setattr(endpoint, field, credentials.rotate(getattr(endpoint, field)))
            endpoint.save(update_fields=sealed)
            rotated += 1
    return rotated


# Personal API tokens, sessions and passwords: a person's own; nobody acts on another's.


def token_create(*, by: User, name: str = "", scope: str = TokenScope.WRITE,
                 days: int | None = None) -> tuple[ApiToken, str]:
    """A new token of `by`'s and its key: the only time the key exists outside the caller."""
    days = settings.API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ValidationError({"days": f"A token lasts from 1 to {settings.API_TOKEN_MAX_DAYS} days."})
    now = timezone.now()
    name = name.strip() or f"API log-in, {timezone.localtime(now):%-d %b %Y %H:%M}"
    key = tokens.key_new()
    with _write(by):
        token = _save(ApiToken(user=by, key_hash=tokens.key_hash(key), prefix=tokens.key_prefix(key), created_at=now),
                      name=name, scope=scope, expires_at=now + timedelta(days=days))
        security.record("token_created", user=by, token=token.prefix, scope=scope, days=days)
    return token, key


def token_revoke(*, token: ApiToken, by: User) -> bool:
    """Revoke one of `by`'s tokens; False if it already was (a second press changes nothing)."""
    if token.user_id != by.pk:
        raise PermissionDenied
    with _write(by):
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()) == 1
        if revoked:
            security.record("token_revoked", user=by, token=token.prefix)
        return revoked


def session_record(*, user: User, session_key: str, ip: str | None, user_agent: str) -> UserSession:
    """A log-in's session in the person's list (written at log-in, by the user_logged_in signal)."""
    try:
        ip = str(ipaddress.ip_address(ip or ""))
    except ValueError:
        ip = None  # a unix socket's client has none; PostgreSQL's inet would refuse anything else
    return UserSession.objects.update_or_create(
        session_id=session_key, defaults={"user": user, "ip": ip, "user_agent": user_agent[:300]},
    )[0]


def session_revoke(*, session: UserSession, by: User) -> None:
    """End one of `by`'s sessions: its row goes, so the browser's next request is anonymous."""
    if session.user_id != by.pk:
        raise PermissionDenied
    Session.objects.filter(pk=session.session_id).delete()  # the UserSession row goes with it
    security.record("session_revoked", user=by, session_client=str(session.ip or "-"), browser=session.browser)


def sessions_revoke_others(*, by: User, keep: str | None) -> int:
    """End every session of `by`'s but `keep` (the one asking); how many ended."""
    others = UserSession.objects.filter(user=by).exclude(session_id=keep).values("session_id")
    return Session.objects.filter(pk__in=others).delete()[1].get(Session._meta.label, 0)


def password_set(*, user: User, password: str | None, by: User | None, keep_session: str | None = None) -> User:
    """Every password change goes through here (the reset, Django admin): the new password, and
    every API token, every other session and the calendar feed of the person's end, so that whoever changed it
    because the old one leaked is not left with a way in that still works. `None` is an
    unusable password; `keep_session` stays signed in."""
    # Without `by`, the request's context (pghistory's middleware) names who did it.
    with transaction.atomic(), pghistory.context(**({"user": by.pk} if by else {}), reason="password set"):
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save()
        revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        ended = sessions_revoke_others(by=user, keep=keep_session)
        calendar_feeds, _ = CalendarFeed.objects.filter(user=user).delete()
        security.record("password_changed", user=user, actor=by if by and by.pk != user.pk else None,
                        tokens_revoked=revoked, sessions_ended=ended, calendar_feed_revoked=bool(calendar_feeds))
    return user


# -- Which notices a person gets ------------------------------------------------------------------

WANTED, UNWANTED = "email", "none"


def notice_preferences_set(*, user: User, choices: dict[str, str]) -> list[str]:
    """`user` chooses, per kind of notice, e-mail (WANTED) or none (UNWANTED); a kind left out
    stays as it was. Nothing changes if any choice is refused: a kind their role does not get,
    a value other than these two, or switching off what their role must receive. Returns the
    kinds changed."""
    kinds = KINDS_OF_ROLE.get(user.role, [])
    for kind, value in choices.items():
        if kind not in kinds:
            raise ValidationError(f"“{kind}” is not a notice you can receive.")
        if value not in (WANTED, UNWANTED):
            raise ValidationError(f"Choose e-mail or none for “{NoticeKind(kind).label}”.")
        if value == UNWANTED and (reason := must_receive(user, kind)):
            raise ValidationError(f"“{NoticeKind(kind).label}” cannot be switched off: {reason}")
    changed = []
    with _write(user):
        for kind, value in choices.items():
            preference, _ = NoticePreference.objects.get_or_create(user=user, kind=kind)
            if preference.wanted != (value == WANTED):
                NoticePreference.objects.filter(pk=preference.pk).update(wanted=value == WANTED,
                                                                        updated_at=timezone.now())
                changed.append(kind)
    return changed
