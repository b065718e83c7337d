"""Reads for releases and upgrade requests; tenancy through portal.selectors.visible_to."""

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from portal.models import Deployment, User
from portal.selectors import visible_to
from upgrades import versions
from upgrades.choices import ItemState, ReleaseState, RequestState
from upgrades.models import ChecklistItem, ItemAttachment, Release, RequestEvent, UpgradeRequest

_LIVE_ITEMS = Q(items__obsolete=False)


def release_list(*, user: User) -> QuerySet[Release]:
    releases = Release.objects.order_by("-version_key")
    return releases if user.is_vendor else releases.filter(state=ReleaseState.PUBLISHED)


def release_get(*, user: User, version: str) -> Release:
    return get_object_or_404(release_list(user=user), version=version)


def releases_newer_than(version: str) -> list[Release]:
    """Published releases a deployment on `version` can be upgraded to, oldest first."""
    current = versions.parse(version)
    newer = [release for release in Release.objects.filter(state=ReleaseState.PUBLISHED) if versions.parse(release.version) > current]
    return sorted(newer, key=lambda release: versions.parse(release.version))


def releases_between(*, current: str, target: Release) -> list[Release]:
    """Every published release after `current` up to `target`: what changes for the customer."""
    return [release for release in releases_newer_than(current) if versions.parse(release.version) <= versions.parse(target.version)]


def request_list(
    *, user: User, states: list[str] | None = None, assignee: str = "", search: str = ""
) -> QuerySet[UpgradeRequest]:
    requests = visible_to(UpgradeRequest.objects.all(), user).select_related(
        "deployment__organisation", "release", "assignee", "requested_by"
    ).annotate(
        item_total=Count("items", filter=_LIVE_ITEMS),
        item_ready=Count("items", filter=_LIVE_ITEMS & Q(items__state__in=[ItemState.PROVIDED, ItemState.ACCEPTED])),
        item_accepted=Count("items", filter=_LIVE_ITEMS & Q(items__state=ItemState.ACCEPTED)),
    )
    if states:
        requests = requests.filter(state__in=states)
    if assignee == "me":
        requests = requests.filter(assignee=user)
    elif assignee == "nobody":
        requests = requests.filter(assignee__isnull=True)
    if search:
        requests = requests.filter(
            Q(deployment__organisation__name__icontains=search) | Q(deployment__name__icontains=search)
            | Q(release__version__startswith=search)
        )
    return requests


def waiting_for(*, user: User) -> dict[str, QuerySet[UpgradeRequest]]:
    """Support's dashboard: what is theirs to act on, and what nobody has taken yet."""
    queue = request_list(user=user).order_by("state_changed_at")
    return {
        "mine": queue.filter(assignee=user, state__in=[RequestState.IN_REVIEW, RequestState.CHECK_SCHEDULED]),
        "unassigned": queue.filter(assignee__isnull=True, state=RequestState.SUBMITTED),
    }


def request_get(*, user: User, pk: int) -> UpgradeRequest:
    return get_object_or_404(
        visible_to(UpgradeRequest.objects.all(), user).select_related(
            "deployment__organisation", "release", "assignee", "requested_by", "check_engineer"
        ),
        pk=pk,
    )


def checklist_of(request: UpgradeRequest) -> list[ChecklistItem]:
    return list(
        request.items.filter(obsolete=False)
        .select_related("provided_by", "reviewed_by", "server")
        .prefetch_related(Prefetch("attachments", queryset=ItemAttachment.objects.defer("content")))
        .order_by("position")
    )


@dataclass(frozen=True)
class Progress:
    total: int
    ready: int
    accepted: int
    waiting: list[ChecklistItem]  # missing or sent back: the customer's to do

    @property
    def percent(self) -> int:
        return round(100 * self.ready / self.total) if self.total else 100


def progress_of(items: list[ChecklistItem]) -> Progress:
    return Progress(
        total=len(items),
        ready=sum(item.is_ready for item in items),
        accepted=sum(item.state == ItemState.ACCEPTED for item in items),
        waiting=[item for item in items if item.state in (ItemState.MISSING, ItemState.SENT_BACK)],
    )


def timeline_of(request: UpgradeRequest) -> QuerySet[RequestEvent]:
    return request.timeline.select_related("actor", "item").order_by("at", "pk")


def item_get(*, user: User, pk: int) -> ChecklistItem:
    return get_object_or_404(
        visible_to(ChecklistItem.objects.select_related("request__deployment__organisation", "request__release"), user),
        pk=pk,
    )


def attachment_get(*, user: User, pk: int) -> ItemAttachment:
    return get_object_or_404(visible_to(ItemAttachment.objects.select_related("item__request"), user), pk=pk)


def deployment_for_request(*, user: User, pk: int) -> Deployment:
    return get_object_or_404(visible_to(Deployment.objects.select_related("organisation"), user), pk=pk)
