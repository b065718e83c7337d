"""Reads, and the one place tenancy is enforced.

Every page and API endpoint gets its rows through `visible_to`: vendor staff see every
organisation, a customer user only their own, anyone else nothing. A row outside that set does
not exist for the caller (404), which the tenancy matrix in tests/portal/test_tenancy.py proves
for every URL.
"""

from dataclasses import dataclass

from django.http import Http404
from django.db.models import Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

import pghistory.models
from portal import access, recipients
from portal.choices import ContactRole, NoticeKind
from portal.models import (
    ApiToken, Contact, Deployment, Notice, NoticePreference, Organisation, Server, ServerGroup, User, UserSession,
    WebhookDelivery, WebhookEndpoint,
)

# How each model of this app reaches its organisation; models of the other apps say it
# themselves with an `organisation_path` attribute.
_ORGANISATION_PATH = {
    Organisation: "pk",
    Contact: "organisation",
    Deployment: "organisation",
    ServerGroup: "deployment__organisation",
    Server: "deployment__organisation",
}


def _organisation_path(model) -> str:
    return _ORGANISATION_PATH.get(model) or model.organisation_path


def visible_to(queryset: QuerySet, user: User) -> QuerySet:
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.is_vendor:
        return queryset
    if user.is_customer and user.organisation_id:
        return queryset.filter(**{_organisation_path(queryset.model): user.organisation_id})
    return queryset.none()


def count_of(model, field: str, *, of: str = "pk", **conditions):
    """Rows of `model` (meeting `conditions`) whose `field` points at the outer row's `of`,
    counted for the rows of a page only: a joined Count would group the whole fleet before the
    page's LIMIT applies."""
    rows = model.objects.filter(**{field: OuterRef(of)}, **conditions).order_by().values(field)
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")), 0)


def organisation_list(*, user: User, search: str = "") -> QuerySet[Organisation]:
    organisations = visible_to(Organisation.objects.all(), user).annotate(
        deployment_count=count_of(Deployment, "organisation"),
        contact_count=count_of(Contact, "organisation"),
    )
    if search:
        organisations = organisations.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    return organisations.order_by("name")


def organisation_get(*, user: User, slug: str) -> Organisation:
    return get_object_or_404(visible_to(Organisation.objects.all(), user), slug=slug)


def organisation_of(*, user: User) -> Organisation | None:
    """The customer user's own organisation (None for vendor staff)."""
    return Organisation.objects.filter(pk=user.organisation_id).first() if user.organisation_id else None


def contact_list(*, user: User, organisation: Organisation) -> QuerySet[Contact]:
    return visible_to(Contact.objects.filter(organisation=organisation), user).select_related("user")


def contact_get(*, user: User, pk: int) -> Contact:
    return get_object_or_404(visible_to(Contact.objects.select_related("organisation"), user), pk=pk)


def deployment_list(*, user: User, organisation: Organisation | None = None) -> QuerySet[Deployment]:
    deployments = visible_to(Deployment.objects.select_related("organisation"), user).annotate(
        server_count=count_of(Server, "deployment"),
        group_count=count_of(ServerGroup, "deployment"),
    )
    if organisation is not None:
        deployments = deployments.filter(organisation=organisation)
    return deployments


def deployment_get(*, user: User, pk: int) -> Deployment:
    servers = Server.objects.order_by("group__position", "role", "hostname")
    return get_object_or_404(
        deployment_list(user=user).prefetch_related(
            Prefetch("groups", queryset=ServerGroup.objects.prefetch_related(Prefetch("servers", queryset=servers))),
            Prefetch("servers", queryset=servers.select_related("group")),
        ),
        pk=pk,
    )


def server_get(*, user: User, pk: int) -> Server:
    return get_object_or_404(visible_to(Server.objects.select_related("deployment__organisation", "group"), user),
                             pk=pk)


_SUBJECT_KINDS = {
    "portal.OrganisationEvent": "Organisation",
    "portal.ContactEvent": "Contact",
    "portal.DeploymentEvent": "Deployment",
    "portal.ServerGroupEvent": "Server group",
    "portal.ServerEvent": "Server",
    "portal.UserEvent": "User",
}


def _subject(event) -> str:
    data = event.pgh_data or {}
    name = data.get("hostname") or data.get("name") or data.get("email")
    if name is None and "position" in data:
        name = f"Group {data['position']}"
    return f"{_SUBJECT_KINDS.get(event.pgh_model, event.pgh_model)} {name or ''}".strip()


def history_of(obj, *, limit: int = 50) -> list[pghistory.models.Events]:
    """The audit trail of a row and of the rows that belong to it (an organisation's contacts,
    a deployment's groups and servers), newest first, with who made each change."""
    events = list(pghistory.models.Events.objects.references(obj).order_by("-pgh_created_at")[:limit])
    user_ids = {event.pgh_context.get("user") for event in events if event.pgh_context}
    users = {user.pk: user for user in User.objects.filter(pk__in=user_ids - {None})}
    for event in events:
        context = event.pgh_context or {}
        event.actor = users.get(context.get("user"))
        event.subject = _subject(event)
        event.changes = sorted((event.pgh_diff or {}).items())
    return events


def notices_about(topic: str) -> QuerySet[Notice]:
    """The outbox rows about one object, for staff pages: who was told what, and did it go."""
    return Notice.objects.filter(topic=topic).defer("body", "attachments").order_by("-created_at")


def open_request_of(deployment: Deployment):
    """The deployment's open upgrade request, if any (at most one: a unique index holds it)."""
    return deployment.upgrade_requests.open().select_related("release").first()


def setup_missing(*, deployments, contacts) -> list[dict]:
    """What a customer's set-up still lacks, step by step: a deployment, servers in each
    deployment, contacts (a lead among them). `deployments` as `deployment_list` annotates them."""
    missing = []
    if not deployments:
        missing.append({"step": "deployment", "what": "No deployment yet"})
    missing += [{"step": "servers", "what": f"No servers in {deployment.name}", "deployment": deployment}
                for deployment in deployments if not deployment.server_count]
    if not contacts:
        missing.append({"step": "contacts", "what": "No contacts yet"})
    elif not any(ContactRole.LEAD in contact.roles for contact in contacts):
        missing.append({"step": "contacts", "what": "No lead contact yet"})
    return missing


# A run's states are the upgrades app's (upgrades.choices.RunState), read here through the
# relation it declares: not finished yet, and under way (started, not finished).
RUN_NOT_FINISHED = ("scheduled", "running", "paused")
RUN_UNDER_WAY = ("running", "paused")


def run_under_way(deployment: Deployment):
    """The deployment's run that has started and not finished, if any."""
    return deployment.runs.filter(state__in=RUN_UNDER_WAY).order_by("pk").first()


def run_history(deployment: Deployment) -> QuerySet:
    """The deployment's runs, the newest window first, with who drove each and how long it took.
    Runs are the upgrades app's: reached through their relation, as this app imports none of it."""
    return (deployment.runs.select_related("window__engineer", "driver")
            .annotate(length=F("finished_at") - F("started_at"))
            .order_by("-planned_start", "-pk"))


# A person's own tokens and sessions: nobody sees another's, staff included (404).


def token_list(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def token_get(*, user: User, pk: int) -> ApiToken:
    return get_object_or_404(token_list(user=user), pk=pk)


def session_list(*, user: User) -> QuerySet[UserSession]:
    # A session past its row's expiry is gone for Django already; clearsessions removes it later.
    return UserSession.objects.filter(user=user, session__expire_date__gt=timezone.now())


def session_get(*, user: User, pk: int) -> UserSession:
    return get_object_or_404(session_list(user=user), pk=pk)


# -- Webhooks: an organisation's are its lead's and the desk's; the vendor's are the desk's. ----

def webhook_endpoints_of(*, user: User, organisation: Organisation | None) -> QuerySet[WebhookEndpoint]:
    """The endpoints `user` manages: of `organisation` (already got through `organisation_get`),
    or the vendor's own for None. Anyone else: 404."""
    if not access.may_manage_webhooks(user, organisation):
        raise Http404
    return WebhookEndpoint.objects.filter(organisation=organisation)


def webhook_endpoint_get(*, user: User, pk: int) -> WebhookEndpoint:
    endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("organisation"), pk=pk)
    if endpoint.organisation is not None:
        organisation_get(user=user, slug=endpoint.organisation.slug)  # another organisation's: 404
    if not access.may_manage_webhooks(user, endpoint.organisation):
        raise Http404
    return endpoint


def webhook_deliveries(*, endpoint: WebhookEndpoint, limit: int = 30) -> list[WebhookDelivery]:
    """The delivery log: the newest first."""
    return list(endpoint.deliveries.order_by("-created_at", "-pk")[:limit])


# -- Which notices a person gets ------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeChoice:
    kind: str
    label: str
    wanted: bool
    must: str  # why the person's role must receive it; empty when it is theirs to choose


def notice_choices(*, user: User) -> list[NoticeChoice]:
    """The notices `user`'s role may be sent, each as they chose (no choice: they get it)."""
    chosen = dict(NoticePreference.objects.filter(user=user).values_list("kind", "wanted"))
    return [NoticeChoice(kind=kind, label=NoticeKind(kind).label, must=(must := recipients.must_receive(user, kind)),
                         wanted=bool(must) or chosen.get(kind, True))
            for kind in recipients.KINDS_OF_ROLE.get(user.role, [])]
