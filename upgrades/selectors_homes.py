"""Each role's home, read: what the customer's deployments can be upgraded to and what each
open request waits for; everything waiting for the support desk; and the counts the menu shows.

Scheduling stands on upgrades (tests/test_layering.py): its windows and links are read here
through the relations it declares on a request and a run (`upgrade.windows`, `run.window`,
`upgrade.scheduling_links`, an engineer's `user.windows`), never by importing it."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from portal import access
from portal.choices import Hosting, NoticeState
from portal.models import Deployment, Notice, User
from portal.selectors import visible_to
from upgrades.choices import OPEN_REQUEST_STATES, CheckOutcome, ItemState, RequestState, RunState, StepState
from upgrades.models import ChecklistItem, Release, Run, Step, UpgradeRequest
from upgrades.runflow import FINISHED_RUN_STATES
from upgrades.selectors import releases_newer_than, request_list

SHOWN = 30  # rows of each of the inbox's lists; the heading counts them all


def _windows():
    """Scheduling's windows, as the relation a run declares on them names them."""
    return Run._meta.get_field("window").related_model.objects


# The customer's home -----------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """The one thing an open request waits for, as its customer reads it: whose move it is
    ("you", "support", or "" for a date that comes by itself), what, when, and where to go."""

    who: str
    text: str
    at: datetime | None = None
    url: str = ""
    action: str = ""  # the button's words when the move is the customer's


@dataclass(frozen=True)
class DeploymentHome:
    deployment: Deployment
    offer: Release | None  # the newest release it can be upgraded to, when the customer may request it
    open_request: UpgradeRequest | None
    waiting: Waiting | None
    window: object | None  # the upgrade's next window (scheduling's MaintenanceWindow)
    last_run: Run | None  # the last run that ended: its report


def customer_home(*, user: User) -> list[DeploymentHome]:
    """Each of the customer's deployments: the upgrade on offer, or the open request and what it
    waits for, its next window, and the report of the last run that ended."""
    upgrades = (
        UpgradeRequest.objects.open().select_related("release", "check_engineer")
        .annotate(missing=Count("items", filter=Q(items__obsolete=False, items__required=True,
                                                   items__state__in=[ItemState.MISSING, ItemState.SENT_BACK])))
        .prefetch_related(
            Prefetch("windows", queryset=_windows().upgrades().holding().order_by("period"), to_attr="holding"),
            Prefetch("runs", queryset=Run.objects.order_by("-created_at"), to_attr="newest_runs"),
        )
    )
    finished = Run.objects.filter(state__in=FINISHED_RUN_STATES).order_by("-finished_at")
    deployments = (
        visible_to(Deployment.objects.select_related("organisation"), user).order_by("name")
        .prefetch_related(Prefetch("upgrade_requests", queryset=upgrades, to_attr="open_requests"),
                          Prefetch("runs", queryset=finished, to_attr="finished_runs"))
    )
    homes = []
    for deployment in deployments:
        upgrade = deployment.open_requests[0] if deployment.open_requests else None
        window = upgrade.holding[0] if upgrade and upgrade.holding else None
        newer = [] if upgrade or deployment.organisation.is_cloud else releases_newer_than(deployment.cloudpaging_version)
        homes.append(DeploymentHome(
            deployment=deployment, offer=newer[-1] if newer else None, open_request=upgrade,
            waiting=waiting_of(upgrade, window=window) if upgrade else None, window=window,
            last_run=deployment.finished_runs[0] if deployment.finished_runs else None,
        ))
    return homes


def waiting_of(upgrade: UpgradeRequest, *, window) -> Waiting:
    """What an open request waits for, in the customer's words (the request page says more)."""
    page = reverse("request-detail", args=[upgrade.pk])
    state = upgrade.state
    if state == RequestState.DRAFT:
        missing = f" ({upgrade.missing} still missing)" if upgrade.missing else ""
        return Waiting("you", f"fill in the checklist{missing}, then submit it to support", url=page,
                       action="Open the checklist")
    if state == RequestState.SUBMITTED:
        return Waiting("support", "to take up your request")
    if state == RequestState.IN_REVIEW:
        if upgrade.missing:
            return Waiting("you", f"{upgrade.missing} checklist items sent back or still missing", url=page,
                           action="Open the checklist")
        return Waiting("support", "to review your checklist and book the prerequisite check")
    if state == RequestState.CHECK_SCHEDULED:
        engineer = upgrade.check_engineer.full_name if upgrade.check_engineer else "an engineer"
        return Waiting("", f"the prerequisite check with {engineer}", at=upgrade.check_at)
    # Approved: the window, then the run.
    if window is None:
        return _waiting_for_a_window(upgrade)
    window_page = reverse("window-detail", args=[window.pk])
    if not window.is_confirmed:
        # Out of hours, support confirms that an engineer will be there (S7); a cloud window is
        # the vendor's proposal until support confirms it (S3).
        what = "the window we proposed" if upgrade.deployment.organisation.is_cloud else "your out-of-hours window"
        return Waiting("support", f"to confirm {what}", at=window.start, url=window_page, action="See the window")
    run = upgrade.newest_runs[0] if upgrade.newest_runs else None
    if run is not None and run.state in (RunState.RUNNING, RunState.PAUSED):
        return Waiting("", "the upgrade is under way", url=reverse("run-live", args=[run.pk]),
                       action="Follow it live")
    return Waiting("", "the upgrade window", at=window.start, url=window_page, action="See the window")


def _waiting_for_a_window(upgrade: UpgradeRequest) -> Waiting:
    if upgrade.deployment.organisation.is_cloud:
        return Waiting("support", "to plan the window: we e-mail every contact at least two weeks ahead")
    link = upgrade.scheduling_links.status()
    if link.state == "none":
        return Waiting("support", "to send your scheduling link")
    if link.live:
        return Waiting("you", "book the maintenance window with your scheduling link", url=link.link.path,
                       action="Book the maintenance window")
    return Waiting("support", link.message)


# The support desk's inbox ------------------------------------------------------------------


def _failed_steps():
    return Exists(Step.objects.filter(run=OuterRef("pk"), state__in=[StepState.FAILED, StepState.INTERRUPTED]))


def _unowned_failures(user: User) -> QuerySet[Run]:
    """Runs paused on a failed or interrupted step that no engineer has taken (S14)."""
    return visible_to(Run.objects.all(), user).filter(state=RunState.PAUSED, failure_owner__isnull=True).filter(
        _failed_steps())


def _desk_requests(user: User) -> dict[str, Q]:
    """The desk's request lists, as conditions on the support queue."""
    mine = Q(assignee=user)
    return {
        "review": mine & (Q(state=RequestState.IN_REVIEW)
                          | Q(state=RequestState.CHECK_SCHEDULED, check_outcome=CheckOutcome.FAILED)),
        "unassigned": Q(assignee__isnull=True, state=RequestState.SUBMITTED),
        "checks": mine & Q(state=RequestState.CHECK_SCHEDULED, check_outcome=""),
        "approve": mine & Q(state=RequestState.CHECK_SCHEDULED, check_outcome=CheckOutcome.PASSED),
        # S8: the customer books nothing before the link; the vendor plans a cloud window (S3).
        "links": Q(state=RequestState.APPROVED, scheduling_links__isnull=True)
        & ~Q(deployment__organisation__hosting=Hosting.CLOUD)
        & Q(~Exists(_windows().holding().filter(request=OuterRef("pk")))),
    }


def _topic_page(topic: str) -> str:
    """The page of the row a notice is about (`upgrades.run:12`), if it has one."""
    kind, _, pk = topic.partition(":")
    name = {"upgrades.upgraderequest": "request-detail", "upgrades.run": "run-live",
            "scheduling.maintenancewindow": "window-detail"}.get(kind)
    return reverse(name, args=[int(pk)]) if name and pk.isdigit() else ""


def desk_inbox(*, user: User) -> dict:
    """Everything waiting for the support desk, oldest first in each list, with how many there
    are in all: requests to review, to take, checks to run, approvals, links to send;
    out-of-hours windows to confirm; failures nobody has taken; notices that failed."""
    queue = request_list(user=user).order_by("state_changed_at")
    lists = {name: queue.filter(condition) for name, condition in _desk_requests(user).items()}
    lists["checks"] = lists["checks"].order_by("check_at")
    lists["windows"] = visible_to(_windows().requested(), user).select_related(
        "request__deployment__organisation", "request__release", "engineer").order_by("period")
    lists["failures"] = _unowned_failures(user).select_related("deployment__organisation", "window__engineer",
                                                               "driver").order_by("started_at")
    failed = Notice.objects.filter(state=NoticeState.FAILED).defer("body", "attachments").order_by("created_at")
    inbox = {name: list(rows[:SHOWN]) for name, rows in lists.items()}
    inbox["notices"] = [(notice, _topic_page(notice.topic)) for notice in failed[:SHOWN]]
    counts = desk_counts(user=user)
    inbox["counts"] = counts
    inbox["total"] = sum(counts.values())
    return inbox


def desk_counts(*, user: User) -> dict[str, int]:
    """How many rows each list of the desk's inbox has: four queries, whatever waits."""
    counts = visible_to(UpgradeRequest.objects.all(), user).aggregate(**{
        name: Count("pk", filter=condition, distinct=True) for name, condition in _desk_requests(user).items()
    })
    counts["windows"] = visible_to(_windows().requested(), user).count()
    counts["failures"] = _unowned_failures(user).count()
    counts["notices"] = Notice.objects.filter(state=NoticeState.FAILED).count()
    return counts


# The menu ----------------------------------------------------------------------------------


def navigation_counts(*, user: User) -> dict[str, int]:
    """What waits for the person, by the URL name of the menu's entry (portal.context_processors
    reaches this through settings.NAVIGATION_COUNTS): the desk's inbox, the engineer's windows
    from now on, the customer's requests waiting for them. One query for each count."""
    if access.is_desk(user):
        return {"waiting-for-me": sum(desk_counts(user=user).values())}
    if user.is_vendor:
        return {"my-windows": user.windows.holding().filter(period__endswith__gt=timezone.now()).count()}
    if user.is_customer:
        return {"request-list": _waiting_for_the_customer(user).count()}
    return {}


def _waiting_for_the_customer(user: User) -> QuerySet[UpgradeRequest]:
    """Open requests whose next move is the customer's, as `waiting_of` words them: a checklist
    to fill in and submit, items sent back, a window to book with a live link."""
    gaps = ChecklistItem.objects.filter(request=OuterRef("pk"), obsolete=False, required=True,
                                        state__in=[ItemState.MISSING, ItemState.SENT_BACK])
    now = timezone.now()
    # Issuing a link revokes the earlier ones: an unrevoked link that has not expired is live.
    live_link = Q(scheduling_links__revoked_at__isnull=True, scheduling_links__expires_at__gt=now)
    return visible_to(UpgradeRequest.objects.all(), user).filter(
        Q(state=RequestState.DRAFT)
        | Q(Exists(gaps), state=RequestState.IN_REVIEW)
        | (Q(live_link, state=RequestState.APPROVED) & ~Q(deployment__organisation__hosting=Hosting.CLOUD)
           & Q(~Exists(_windows().holding().filter(request=OuterRef("pk")))))
    ).distinct()


def deployments_offered(*, user: User, release: Release) -> list[Deployment]:
    """The customer's deployments that may be upgraded to `release` now: older, on premises, and
    with no open request (the release's page offers to request it for each)."""
    if not user.is_customer:
        return []
    deployments = visible_to(Deployment.objects.select_related("organisation"), user).exclude(
        organisation__hosting=Hosting.CLOUD).exclude(upgrade_requests__state__in=OPEN_REQUEST_STATES).order_by("name")
    return [deployment for deployment in deployments if release in releases_newer_than(deployment.cloudpaging_version)]
