"""Reads for releases and upgrade requests; tenancy through portal.selectors.visible_to."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from portal.models import Deployment, User
from portal.selectors import count_of, visible_to
from upgrades import versions
from upgrades.availability import downtime_intervals
from upgrades.choices import ItemState, ReleaseState, RunState, StepState
from upgrades.models import (
    AvailabilityProbe, ChecklistItem, ItemAttachment, Message, Release, RequestEvent, Run, Step, UpgradeRequest,
)
from upgrades.runflow import DONE_STEP_STATES


def _items_counted(**state):
    """Required, current items of the outer request, counted for the rows of a page only."""
    return count_of(ChecklistItem, "request", obsolete=False, required=True, **state)


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
        item_total=_items_counted(),
        item_ready=_items_counted(state__in=[ItemState.PROVIDED, ItemState.ACCEPTED]),
        item_accepted=_items_counted(state=ItemState.ACCEPTED),
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


def request_get(*, user: User, pk: int) -> UpgradeRequest:
    return get_object_or_404(
        visible_to(UpgradeRequest.objects.all(), user).select_related(
            "deployment__organisation", "release", "assignee", "requested_by", "check_engineer"
        ),
        pk=pk,
    )


def checklist_of(upgrade: UpgradeRequest) -> list[ChecklistItem]:
    return list(
        upgrade.items.filter(obsolete=False)
        .select_related("provided_by", "reviewed_by", "server")
        .prefetch_related(Prefetch("attachments", queryset=ItemAttachment.objects.defer("content")))
        .order_by("position")
    )


@dataclass(frozen=True)
class Progress:
    """Where the checklist stands. Required items decide approval (S8); optional ones are
    counted apart and never listed as missing."""

    total: int
    ready: int
    accepted: int
    waiting: list[ChecklistItem]  # required, missing or sent back: the customer's to do
    optional_open: int

    @property
    def complete(self) -> bool:
        return self.accepted == self.total


def progress_of(items: list[ChecklistItem]) -> Progress:
    required = [item for item in items if item.required]
    return Progress(
        total=len(required),
        ready=sum(item.is_ready for item in required),
        accepted=sum(item.state == ItemState.ACCEPTED for item in required),
        waiting=[item for item in required if item.state in (ItemState.MISSING, ItemState.SENT_BACK)],
        optional_open=sum(not item.required and not item.is_ready for item in items),
    )


def timeline_of(upgrade: UpgradeRequest) -> QuerySet[RequestEvent]:
    return upgrade.timeline.select_related("actor", "item").order_by("at", "pk")


def conversation_of(upgrade: UpgradeRequest, *, vendor: bool) -> QuerySet[Message]:
    """The messages on an upgrade, oldest first; internal notes for the vendor's people alone."""
    messages = upgrade.messages.all()
    return messages if vendor else messages.filter(internal=False)


def item_get(*, user: User, pk: int) -> ChecklistItem:
    return get_object_or_404(
        visible_to(ChecklistItem.objects.select_related("request__deployment__organisation", "request__release"), user),
        pk=pk,
    )


def attachment_get(*, user: User, pk: int) -> ItemAttachment:
    return get_object_or_404(visible_to(ItemAttachment.objects.select_related("item__request"), user), pk=pk)


def deployment_for_request(*, user: User, pk: int) -> Deployment:
    return get_object_or_404(visible_to(Deployment.objects.select_related("organisation"), user), pk=pk)


def downtime_of(*, probe: AvailabilityProbe) -> list[tuple[datetime, datetime]]:
    """The probe's down stretches, from its samples in time order."""
    samples = list(probe.samples.order_by("at").values_list("at", "up"))
    return downtime_intervals(samples, interval=timedelta(milliseconds=probe.interval_ms))


def lab_deployment_get(*, user: User, pk: int) -> Deployment:
    """A deployment whose lab fleet staff may look at and break (404 for anyone else)."""
    if not user.is_authenticated or not user.is_vendor:
        raise Http404
    return get_object_or_404(Deployment.objects.select_related("organisation"), pk=pk)


def step_next(run: Run, *, with_run: bool = False) -> Step | None:
    """The run's first step not succeeded or skipped: what runs, waits, failed, or is to be sent
    (`with_run`: with the run and its deployment read afresh in the same query, as `step.run`)."""
    steps = Step.objects.filter(run_id=run.pk).exclude(state__in=DONE_STEP_STATES).order_by("position")
    return (steps.select_related("run__deployment") if with_run else steps).first()


def step_pending(run: Run) -> Step | None:
    """The running run's next step while nobody has it yet (pending); None while a step runs,
    waits for people or has failed, and when the run is not running."""
    if run.state != RunState.RUNNING:
        return None
    following = step_next(run)
    return following if following is not None and following.state == StepState.PENDING else None


# How long the request page waits for a preflight asked for: a worker that never answers does not
# keep pages asking for ever.
PREFLIGHT_AWAITED = timedelta(minutes=5)


def preflight_pending(upgrade: UpgradeRequest) -> bool:
    """Whether the last preflight asked for has not recorded its result yet (asked lately)."""
    last = upgrade.timeline.filter(action__in=("preflight_requested", "preflight")).order_by("-pk").first()
    return (last is not None and last.action == "preflight_requested"
            and timezone.now() - last.at < PREFLIGHT_AWAITED)
