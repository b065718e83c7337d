"""The cloud plan (S3): the vendor upgrades its cloud customers itself, within
CLOUD_PLAN_MONTHS of a release, in support hours, with at least CLOUD_NOTICE_DAYS' notice.

- `cloud_plan_release`: support presses "Plan cloud upgrades" on a published release. Every
  cloud deployment older than the release gets an approved upgrade request (the planner is
  the approval: the vendor runs the cloud) and a *proposed* window on a free standard slot,
  chosen by `scheduling.cloud.plan_cloud` and booked through `booking.place`, so the exclusion
  constraint still decides. Running it again plans only what has no window yet.
- `cloud_window_move`, `cloud_confirm_all`: support adjusts and confirms; `window_confirm`
  refuses a cloud window less than CLOUD_NOTICE_DAYS away.
- `cloud_notices_enqueue` (beat): the two weeks' notice of each confirmed cloud window, written
  to the outbox once per window, start time and recipient: the outbox's unique key makes a
  second sweep, or two at once, write nothing more, and its claim sends each row once.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from portal import access, recipients
from portal.choices import Hosting
from portal.models import Deployment, Notice, User
from portal.notices import notice_enqueue
from portal.workflow import WorkflowError
from scheduling import selectors
from scheduling.announcement import service_notice
from scheduling.choices import HOLDING_STATES, Cover, Purpose, WindowState
from scheduling.cloud import Candidates, Week, plan_cloud, plan_deadline, week_of
from scheduling.invites import REQUEST, invite_attachment
from scheduling.models import MaintenanceWindow
from scheduling.plan import plan_window
from scheduling.services.booking import SlotTaken, buffer, place, preparation
from scheduling.services.windows import window_confirm, window_reschedule
from scheduling.slots import Slot
from upgrades import versions
from upgrades.choices import OPEN_REQUEST_STATES, ReleaseState, RequestState
from upgrades.models import Release, UpgradeRequest
from upgrades.services.requests import log

def _require_desk(by: User) -> None:
    if not access.is_desk(by):
        raise PermissionDenied


def notice_days() -> timedelta:
    return timedelta(days=settings.CLOUD_NOTICE_DAYS)


def plan_earliest(now: datetime | None = None) -> datetime:
    """A proposal lies a day beyond the notice, so support has a day to confirm it."""
    return (now or timezone.now()) + notice_days() + timedelta(days=1)


def deadline_of(*, release: Release, deployment: Deployment) -> datetime:
    return plan_deadline(
        release_date=release.release_date, months=settings.CLOUD_PLAN_MONTHS, zone=deployment.organisation.time_zone
    )


def notice_key_prefix(window: MaintenanceWindow) -> str:
    return f"window:{window.pk}:cloud-notice:"


def notice_key(window: MaintenanceWindow) -> str:
    # The start is part of the cause: a window moved after its notice gets a new notice.
    return f"{notice_key_prefix(window)}{window.start.isoformat()}"


# Reads ------------------------------------------------------------------------------------


def cloud_deployments() -> list[Deployment]:
    return list(
        Deployment.objects.filter(organisation__hosting=Hosting.CLOUD)
        .select_related("organisation").order_by("organisation__name", "name")
    )


def _older_than(deployment: Deployment, release: Release) -> bool:
    try:
        return versions.parse(deployment.cloudpaging_version) < versions.parse(release.version)
    except versions.VersionError:
        return False


@dataclass
class PlanRow:
    """One cloud deployment on support's plan page."""

    deployment: Deployment
    request: UpgradeRequest | None
    window: MaintenanceWindow | None
    needs_upgrade: bool
    notices: Counter = field(default_factory=Counter)
    # The open request that keeps the planner off this deployment (not approved, or to
    # another release), shown with a link so support can look at it.
    blocking: UpgradeRequest | None = None

    @property
    def notice_states(self) -> list[tuple[str, int]]:
        """How many of the window's notices are pending, sending, sent, failed."""
        return sorted(self.notices.items())

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.deployment.organisation.time_zone)

    @property
    def local_start(self) -> datetime | None:
        return self.window.start.astimezone(self.zone) if self.window else None

    @property
    def local_end(self) -> datetime | None:
        return self.window.end.astimezone(self.zone) if self.window else None


def cloud_plan_rows(*, release: Release) -> list[PlanRow]:
    """Every cloud deployment with its request for `release`, its holding upgrade window and
    the state of the window's two weeks' notice, in a fixed number of queries."""
    deployments = cloud_deployments()
    requests = {
        request.deployment_id: request
        for request in UpgradeRequest.objects.filter(release=release, deployment__in=deployments)
        .order_by("created_at")  # the newest request of a deployment wins
    }
    open_requests = {
        request.deployment_id: request
        for request in UpgradeRequest.objects.filter(deployment__in=deployments, state__in=OPEN_REQUEST_STATES)
        .select_related("release")
    }
    windows = {
        window.request_id: window
        for window in MaintenanceWindow.objects.filter(
            request__in=requests.values(), purpose=Purpose.UPGRADE, state__in=HOLDING_STATES
        ).select_related("engineer")
    }
    notices: dict[int, Counter] = {}
    keys = {notice_key(window): window.pk for window in windows.values()}
    for key, state in Notice.objects.filter(key__in=keys).values_list("key", "state"):
        notices.setdefault(keys[key], Counter())[state] += 1
    rows = []
    for deployment in deployments:
        request = requests.get(deployment.pk)
        window = windows.get(request.pk) if request else None
        rows.append(PlanRow(
            deployment=deployment, request=request, window=window, needs_upgrade=_older_than(deployment, release),
            notices=notices.get(window.pk, Counter()) if window else Counter(),
            blocking=_blocking(open_requests.get(deployment.pk), release),
        ))
    return rows


def _blocking(open_request: UpgradeRequest | None, release: Release) -> UpgradeRequest | None:
    """The open request that keeps the planner off a deployment, as `_request_for` decides."""
    if open_request is None or (open_request.release_id == release.pk and open_request.state == RequestState.APPROVED):
        return None
    return open_request


def cloud_window_of(*, release: Release, pk: int) -> MaintenanceWindow:
    """A holding cloud upgrade window of this release, or DoesNotExist."""
    return MaintenanceWindow.objects.select_related("request__deployment__organisation", "request__release").get(
        pk=pk, request__release=release, request__deployment__organisation__hosting=Hosting.CLOUD,
        purpose=Purpose.UPGRADE, state__in=HOLDING_STATES,
    )


def move_slots(*, window: MaintenanceWindow, week_of: date | None = None) -> list[Slot]:
    """Free standard slots to move a cloud window to, for one week from `week_of` (or from
    the first day the notice allows), never before the notice allows."""
    earliest = timezone.now() + notice_days()
    zone = ZoneInfo(window.request.deployment.organisation.time_zone)
    start = earliest
    if week_of is not None:
        start = max(earliest, datetime.combine(week_of, datetime.min.time(), tzinfo=zone))
    slots = selectors.slots_for(
        upgrade=window.request, earliest=start, within=timedelta(days=7), exclude_window=window
    )
    return [slot for slot in slots if slot.standard and slot.start >= earliest]


def cloud_windows_for(*, user: User) -> list[MaintenanceWindow]:
    """A cloud customer's coming upgrade windows: their plan (S3)."""
    if not user.is_customer or user.organisation_id is None:
        return []
    return list(
        MaintenanceWindow.objects.filter(
            request__deployment__organisation_id=user.organisation_id,
            request__deployment__organisation__hosting=Hosting.CLOUD,
            purpose=Purpose.UPGRADE, state__in=HOLDING_STATES, period__endswith__gt=timezone.now(),
        ).select_related("request__deployment__organisation", "request__release")
    )


# Writes -----------------------------------------------------------------------------------


class Unplanned(NamedTuple):
    """A deployment the plan left out, why, and the request that blocks it, if one does."""

    deployment: Deployment
    reason: str
    blocking: UpgradeRequest | None = None


@dataclass
class CloudPlan:
    planned: list[MaintenanceWindow] = field(default_factory=list)
    # For support to look at, or to plan by hand.
    unplanned: list[Unplanned] = field(default_factory=list)


def _request_for(*, deployment: Deployment, release: Release, by: User) -> tuple[UpgradeRequest | None, Unplanned | None]:
    """The approved request to plan, new or an earlier one whose window was cancelled; or why
    none (None for both: planned already)."""
    open_request = deployment.upgrade_requests.filter(state__in=OPEN_REQUEST_STATES).select_related("release").first()
    if open_request is not None:
        state = open_request.get_state_display().lower()
        if open_request.release_id != release.pk:
            return None, Unplanned(deployment, (
                f"It has an open upgrade request to {open_request.release.version} (#{open_request.pk}, {state}): "
                "finish or close that first."
            ), open_request)
        if open_request.state != RequestState.APPROVED:
            return None, Unplanned(deployment, (
                f"Its upgrade request #{open_request.pk} to this release is {state}, not approved: look at it first."
            ), open_request)
        if open_request.windows.upgrades().holding().exists():
            return None, None  # planned already: nothing to do
        return open_request, None
    request = UpgradeRequest(
        deployment=deployment, release=release, from_version=deployment.cloudpaging_version,
        kind=versions.kind_between(deployment.cloudpaging_version, release.version),
        requested_by=by, assignee=by, state=RequestState.APPROVED,
    )
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:
        # Another request was opened for it a moment ago: leave it to that one.
        return None, Unplanned(deployment, "It has an open upgrade request since a moment ago: run the plan again.")
    log(upgrade=request, by=by, action="cloud_planned", to_state=RequestState.APPROVED,
        reason="S3: a cloud upgrade is planned and approved by the vendor.")
    return request, None


def _loads(*, earliest: datetime, deadline: datetime) -> tuple[dict[tuple[int, Week], int], dict[date, int]]:
    """Windows already held between `earliest` and `deadline`: per engineer and week, and per
    local day of the cloud customers'."""
    engineers: Counter = Counter()
    days: Counter = Counter()
    span = DateTimeTZRange(earliest, deadline)
    windows = MaintenanceWindow.objects.filter(state__in=HOLDING_STATES, period__overlap=span).select_related(
        "request__deployment__organisation"
    )
    for window in windows:
        engineers[(window.engineer_id, week_of(window.start))] += 1
        organisation = window.request.deployment.organisation
        if organisation.is_cloud:
            days[window.start.astimezone(ZoneInfo(organisation.time_zone)).date()] += 1
    return dict(engineers), dict(days)


def cloud_plan_release(*, release: Release, by: User) -> CloudPlan:
    """Propose a window for every cloud deployment older than `release` that has none yet.

    1. Lock the release: two presses of the button plan one after the other, and the second
       finds the first one's windows.
    2. For each cloud deployment older than the release: its approved request (made now and
       logged as "cloud_planned", or an earlier one whose window was cancelled) and its free
       slots from a day after the notice to the S3 deadline.
    3. The pure planner proposes a slot and an engineer for each (balanced, spread over days).
    4. Each proposal is booked through `place` with its engineer, then with the slot's other
       free engineers: the exclusion constraint decides. None free any more: unplanned.
    """
    _require_desk(by)
    if release.state != ReleaseState.PUBLISHED:
        raise WorkflowError("Publish the release first: cloud upgrades are planned for published releases.")
    outcome = CloudPlan()
    with transaction.atomic(), pghistory.context(user=by.pk):
        release = Release.objects.select_for_update().get(pk=release.pk)
        now = timezone.now()
        earliest = plan_earliest(now)
        requests: dict[int, UpgradeRequest] = {}
        candidates = []
        for deployment in cloud_deployments():
            if not _older_than(deployment, release):
                continue
            request, why_not = _request_for(deployment=deployment, release=release, by=by)
            if request is None:
                if why_not is not None:
                    outcome.unplanned.append(why_not)
                continue
            deadline = deadline_of(release=release, deployment=deployment)
            slots = selectors.slots_for(upgrade=request, earliest=earliest, within=deadline - earliest) \
                if deadline > earliest else []
            requests[deployment.pk] = request
            candidates.append(Candidates(deployment_id=deployment.pk, zone=deployment.organisation.time_zone, slots=slots))
        if not candidates:
            return outcome
        latest = max(deadline_of(release=release, deployment=requests[c.deployment_id].deployment) for c in candidates)
        engineer_load, day_load = _loads(earliest=earliest, deadline=max(latest, earliest))
        proposals = plan_cloud(
            candidates, earliest=earliest, deadline=latest, buffer=buffer(),
            engineer_load=engineer_load, day_load=day_load,
        )
        for entry in candidates:
            request = requests[entry.deployment_id]
            proposal = proposals[entry.deployment_id]
            deadline = deadline_of(release=release, deployment=request.deployment)
            if proposal is None or proposal.slot.end > deadline:
                outcome.unplanned.append(Unplanned(
                    request.deployment,
                    f"No free slot in support hours between {earliest:%d %B %Y} and the S3 deadline "
                    f"{deadline:%d %B %Y}: plan it by hand.",
                ))
                continue
            window = _propose(upgrade=request, slot=proposal.slot, engineer_id=proposal.engineer_id, by=by)
            if window is None:
                outcome.unplanned.append(Unplanned(request.deployment, "Its slot was just taken: run the plan again."))
            else:
                outcome.planned.append(window)
        return outcome


def _propose(*, upgrade: UpgradeRequest, slot: Slot, engineer_id: int, by: User) -> MaintenanceWindow | None:
    window = MaintenanceWindow(
        request=upgrade, purpose=Purpose.UPGRADE, booked_by=by, cover=Cover.STANDARD, state=WindowState.PROPOSED
    )
    plan = plan_window(
        start=slot.start, kind=upgrade.kind, servers=upgrade.deployment.servers.count(), preparation=preparation()
    )
    others = [pk for pk in slot.engineer_ids if pk != engineer_id]
    for engineer_ids in ([engineer_id], others):
        if not engineer_ids:
            continue
        try:
            window = place(window=window, plan=plan, engineer_ids=engineer_ids)
        except SlotTaken:
            continue  # booked by somebody else since the slots were read: try the others
        log(upgrade=upgrade, by=by, action="window_booked", reason=f"proposed: {window.start:%Y-%m-%d %H:%M} UTC")
        return window
    return None


def cloud_window_move(*, window: MaintenanceWindow, start: datetime, by: User) -> MaintenanceWindow:
    """Support moves a cloud window to another free standard slot at least the notice ahead."""
    _require_desk(by)
    if start.tzinfo is None:
        raise ValidationError("Choose one of the free slots.")
    if start - timezone.now() < notice_days():
        raise WorkflowError(
            f"A cloud window needs {settings.CLOUD_NOTICE_DAYS} days' notice (S3): choose a slot from "
            f"{timezone.now() + notice_days():%d %B %Y} on."
        )
    slot = next(
        (slot for slot in selectors.slots_for(upgrade=window.request, earliest=start, within=timedelta(days=1),
                                              exclude_window=window)
         if slot.start == start and slot.standard),
        None,
    )
    if slot is None:
        raise SlotTaken("This slot is not free any more, or is outside support hours. Choose another one.")
    return window_reschedule(
        window=window, start=slot.start, engineer_ids=list(slot.engineer_ids), cover=Cover.STANDARD, by=by,
        reason="cloud plan adjusted by support",
    )


def cloud_confirm_all(*, release: Release, by: User) -> tuple[list[MaintenanceWindow], list[tuple[MaintenanceWindow, str]]]:
    """Confirm every proposed cloud window of `release`, each on its own; returns the confirmed
    ones and the refused ones with the reason (too close to give the notice, moved meanwhile)."""
    _require_desk(by)
    confirmed, refused = [], []
    proposed = MaintenanceWindow.objects.filter(
        request__release=release, request__deployment__organisation__hosting=Hosting.CLOUD,
        purpose=Purpose.UPGRADE, state=WindowState.PROPOSED,
    ).select_related("request__deployment")
    for window in proposed:
        try:
            confirmed.append(window_confirm(window=window, by=by))
        except WorkflowError as refusal:
            refused.append((window, str(refusal)))
    return confirmed, refused


def _notice_text(window: MaintenanceWindow, zone: str) -> tuple[str, str]:
    """The notice as a reader in `zone` reads it; the part to forward to the service's users gives
    the organisation's times."""
    request = window.request
    organisation = request.deployment.organisation
    announcement = service_notice(window=window, zone=organisation.time_zone)
    start, end = window.start.astimezone(ZoneInfo(zone)), window.end.astimezone(ZoneInfo(zone))
    subject = f"Planned upgrade of your cloud service to {request.release.version}: {start:%d %B %Y}"
    body = "\n".join([
        "Hello,",
        "",
        f"We will upgrade {organisation.name}'s cloud-hosted Cloudpaging service {request.deployment.name} "
        f"from {request.from_version} to {request.release.version} ({request.get_kind_display().lower()} upgrade).",
        f"When: {start:%A %d %B %Y, %H:%M} to {end:%H:%M} {start.tzname()} ({zone}).",
        "",
        "Nothing is needed from you: our cloud team carries out the upgrade. Below is a notice you can",
        "forward to your own service users as it is"
        + (f", with the times in {organisation.time_zone}." if zone != organisation.time_zone else "."),
        "",
        "---",
        announcement.body.rstrip("\n"),
        "---",
        "",
        "If this time does not suit you, contact support as soon as you can.",
    ]) + "\n"
    return subject, body


def cloud_notices_enqueue() -> int:
    """Beat's sweep: the two weeks' notice of every confirmed cloud window still to come whose
    notice for its current start is not in the outbox yet. Returns how many notices it wrote."""
    windows = MaintenanceWindow.objects.filter(
        state=WindowState.CONFIRMED, purpose=Purpose.UPGRADE, period__startswith__gt=timezone.now(),
        request__deployment__organisation__hosting=Hosting.CLOUD,
    ).select_related("request__deployment__organisation", "request__release")
    due = {notice_key(window): window for window in windows}
    already = set(Notice.objects.filter(key__in=due).values_list("key", flat=True).distinct())
    written = 0
    for key, window in due.items():
        if key in already:
            continue
        with transaction.atomic():
            people = recipients.contacts_of(window.request.deployment.organisation_id)
            # The same calendar entry (UID, SEQUENCE) as the confirmation's: calendars keep one.
            invite = invite_attachment(window=window, method=REQUEST, attendees=list(people))
            for zone in sorted(set(people.values())):
                subject, body = _notice_text(window, zone)
                # A second sweep at the same moment writes the same key: the unique (key,
                # recipient) keeps one row each (the count may then include the other's rows).
                written += len(notice_enqueue(
                    key=key, topic=f"scheduling.maintenancewindow:{window.pk}",
                    recipients=[address for address, theirs in people.items() if theirs == zone],
                    subject=subject, body=body, attachments=[invite],
                ))
    return written
