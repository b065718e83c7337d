"""Upgrade requests through the support desk's approval (S2, S8, S10).

Every move is a guarded UPDATE from the states `upgrades.workflow.MOVES` allows: when it
changes no row, the move was not allowed any more or somebody else made it first, and the
caller gets a WorkflowError saying so; nothing changed. Each move writes a RequestEvent (actor,
reason) and the notices it causes, in the same transaction.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import access
from portal.choices import Role
from portal.models import Deployment, User
from upgrades import versions
from upgrades.choices import CheckOutcome, ItemState, ReleaseState, RequestState
from upgrades.models import Release, RequestEvent, UpgradeRequest
from upgrades.services import notify
from upgrades.services.checklist import checklist_refresh
from upgrades.services.timeline import log
from upgrades.workflow import MOVES, WorkflowError, allowed, require_desk, require_reason


CLOUD_REFUSAL = (
    "Cloud-hosted deployments are upgraded by the vendor (S3): their upgrades are planned and carried out "
    "by the vendor, with at least two weeks' notice. There is nothing to request."
)


def customer_may_request(deployment: Deployment) -> bool:
    """S3: the vendor plans a cloud deployment's upgrades; its customers request none."""
    return not deployment.organisation.is_cloud


def customer_may_withdraw(upgrade: UpgradeRequest) -> bool:
    """A cloud upgrade the vendor approved is the vendor's plan; anything else a customer holds
    (a request opened before cloud customers were refused) they may withdraw."""
    return customer_may_request(upgrade.deployment) or upgrade.state != RequestState.APPROVED


def _move(upgrade: UpgradeRequest, move_name: str, *, by: User, reason: str = "", **fields) -> RequestEvent:
    move = MOVES[move_name]
    before = upgrade.state
    try:
        with transaction.atomic():  # a savepoint: a broken unique rule must not poison the caller
            changed = UpgradeRequest.objects.filter(pk=upgrade.pk, state__in=move.sources).update(
                state=move.target, state_changed_at=timezone.now(), **fields
            )
    except IntegrityError:
        # Reopening while the deployment has another open request.
        raise WorkflowError("This deployment already has an open upgrade request: finish or withdraw it first.") from None
    if changed != 1:
        # Lost a race, or the move is not allowed from the state the row has now.
        current = UpgradeRequest.objects.filter(pk=upgrade.pk).values_list("state", flat=True).first()
        label = RequestState(current).label.lower() if current else "gone"
        raise WorkflowError(f"You cannot {move.label} this request: it is {label} now.")
    upgrade.refresh_from_db()
    return log(upgrade=upgrade, by=by, action=move_name, reason=reason, from_state=before, to_state=move.target)


def request_create(*, deployment: Deployment, release: Release, by: User) -> UpgradeRequest:
    """A customer asks to upgrade one of their deployments to a newer published release."""
    if not access.may(by, "request.create", organisation_id=deployment.organisation_id):
        raise PermissionDenied
    if by.is_customer and not customer_may_request(deployment):
        raise PermissionDenied(CLOUD_REFUSAL)
    if release.state != ReleaseState.PUBLISHED:
        raise ValidationError({"release": "This release is not published."})
    try:
        kind = versions.kind_between(deployment.cloudpaging_version, release.version)
    except versions.VersionError:
        raise ValidationError(
            {"release": f"{deployment.name} already runs {deployment.cloudpaging_version}: choose a newer release than that."}
        ) from None
    with transaction.atomic(), pghistory.context(user=by.pk):
        upgrade = UpgradeRequest(
            deployment=deployment, release=release, from_version=deployment.cloudpaging_version, kind=kind,
            requested_by=by,
        )
        try:
            with transaction.atomic():
                upgrade.save()
        except IntegrityError:
            raise ValidationError(
                {"deployment": "This deployment already has an open upgrade request: continue that one, or withdraw it."}
            ) from None
        log(upgrade=upgrade, by=by, action="create", to_state=upgrade.state)
        checklist_refresh(upgrade=upgrade)
        return upgrade


def request_submit(*, upgrade: UpgradeRequest, by: User) -> UpgradeRequest:
    if not access.may(by, "request.create", organisation_id=upgrade.deployment.organisation_id):
        raise PermissionDenied
    if by.is_customer and not customer_may_request(upgrade.deployment):
        raise WorkflowError("Cloud upgrades are planned by the vendor (S3): there is nothing to submit. "
                            "Withdraw this request; we tell you at least two weeks before your upgrade.")
    with transaction.atomic(), pghistory.context(user=by.pk):
        checklist_refresh(upgrade=upgrade)
        event = _move(upgrade, "submit", by=by, submitted_at=timezone.now())
        notify.notify(
            event=event, to=notify.support_addresses(upgrade), subject="Upgrade request submitted",
            lines=[f"{by.full_name} submitted an upgrade request and its prerequisite checklist for review.",
                   *_flags_for_support(upgrade)],
        )
        return upgrade


def _flags_for_support(upgrade: UpgradeRequest) -> list[str]:
    """What support must not miss in a new request (S9), each naming its checklist item."""
    deployment = upgrade.deployment
    items = dict(upgrade.items.filter(obsolete=False, key__in=["a10_legacy_tls", "lb_tls_dropped"]).values_list("key", "title"))
    lines = []
    if "a10_legacy_tls" in items:
        lines.append(f"S9: the load balancer {deployment.load_balancer_label} allows TLS {deployment.min_tls_version}. "
                     f"Review what the customer says in “{items['a10_legacy_tls']}”.")
    if "lb_tls_dropped" in items:
        lines.append(f"The load balancer {deployment.load_balancer_label} still allows TLS versions this release no longer "
                     f"offers: approval waits for “{items['lb_tls_dropped']}”.")
    return lines


def request_assign(*, upgrade: UpgradeRequest, by: User, take_over: bool = False) -> UpgradeRequest:
    """"Assign to me": a request nobody works on, or, explicitly, one somebody else holds."""
    require_desk(by, upgrade, assigned=False)
    with transaction.atomic(), pghistory.context(user=by.pk):
        free = UpgradeRequest.objects.filter(pk=upgrade.pk, state__in=MOVES["start_review"].sources | MOVES["refuse"].sources)
        if not take_over:
            free = free.filter(assignee__isnull=True)
        if free.update(assignee=by) != 1:
            # Somebody else assigned it first, it is already ours, or the request is closed.
            upgrade.refresh_from_db()
            if upgrade.assignee_id == by.pk and upgrade.state in MOVES["refuse"].sources:
                return upgrade
            if upgrade.assignee_id and upgrade.assignee_id != by.pk:
                raise WorkflowError(f"{upgrade.assignee.full_name} is already working on this request.")
            raise WorkflowError(f"This request is {upgrade.get_state_display().lower()}: there is nothing to review.")
        upgrade.refresh_from_db()
        log(upgrade=upgrade, by=by, action="assign", reason="taken over" if take_over else "")
        if upgrade.state == RequestState.SUBMITTED:
            _move(upgrade, "start_review", by=by)
        return upgrade


def request_schedule_check(*, upgrade: UpgradeRequest, by: User, at: datetime, engineer: User) -> UpgradeRequest:
    """S2: the prerequisite check is an appointment with an engineer. Booked on the calendar,
    its window announces it (scheduling.services.notices), to each person on their own clock."""
    require_desk(by, upgrade)
    if engineer.role != Role.ENGINEER or not engineer.is_active:
        raise ValidationError({"engineer": "Choose one of the vendor's engineers."})
    if at <= timezone.now():
        raise ValidationError({"at": "The check must be in the future."})
    with transaction.atomic(), pghistory.context(user=by.pk):
        _move(upgrade, "schedule_check", by=by, check_at=at, check_engineer=engineer, check_outcome="", check_notes="")
        return upgrade


def request_record_check(*, upgrade: UpgradeRequest, by: User, outcome: str, notes: str = "") -> UpgradeRequest:
    """The engineer or support records how the check went. A failed check sends the request
    back to review."""
    if not access.may(by, "request.record_check", organisation_id=upgrade.deployment.organisation_id):
        raise PermissionDenied
    if outcome not in CheckOutcome.values:
        raise ValidationError({"outcome": "Say whether the check passed or failed."})
    if outcome == CheckOutcome.FAILED and not notes.strip():
        raise ValidationError({"notes": "Say what failed, so the customer can put it right."})
    with transaction.atomic(), pghistory.context(user=by.pk):
        # Held to the end: a check moved meanwhile is judged at its new time.
        locked = UpgradeRequest.objects.select_for_update().get(pk=upgrade.pk)
        if locked.state == RequestState.CHECK_SCHEDULED and locked.check_at and locked.check_at > timezone.now():
            when = timezone.localtime(locked.check_at, timezone=ZoneInfo(by.time_zone)).strftime("%A %-d %B %Y at %H:%M %Z")
            raise WorkflowError(f"The prerequisite check starts on {when}: its outcome can be recorded once it has started.")
        if outcome == CheckOutcome.PASSED:
            updated = UpgradeRequest.objects.filter(
                pk=upgrade.pk, state=RequestState.CHECK_SCHEDULED, check_at__lte=timezone.now()
            ).update(check_outcome=outcome, check_notes=notes)
            if updated != 1:
                raise WorkflowError("No prerequisite check is scheduled for this request now.")
            upgrade.refresh_from_db()
            log(upgrade=upgrade, by=by, action="check_passed", reason=notes)
        else:
            event = _move(upgrade, "check_failed", by=by, reason=notes, check_outcome=outcome, check_notes=notes)
            notify.notify(
                event=event, to=notify.customer_addresses(upgrade), subject="Prerequisite check failed",
                lines=["The prerequisite check did not pass:", notes],
            )
        return upgrade


def request_approve(*, upgrade: UpgradeRequest, by: User) -> UpgradeRequest:
    """S8: approval needs every required item accepted and a passed check; it unlocks booking."""
    require_desk(by, upgrade)
    with transaction.atomic(), pghistory.context(user=by.pk):
        # Facts may have changed since the review: new items must be reviewed too.
        checklist_refresh(upgrade=upgrade)
        ciphers = upgrade.items.filter(key="lb_tls_dropped", obsolete=False).exclude(state=ItemState.ACCEPTED).first()
        if ciphers is not None:
            # Named on its own: the upgrade would cut off the clients of a load balancer left as it is.
            deployment = upgrade.deployment
            raise WorkflowError(
                f"{deployment.load_balancer_label} still allows TLS {deployment.min_tls_version}, which "
                f"{upgrade.release.version} no longer offers: approval waits until the customer confirms the load "
                f"balancer's ciphers were changed and you accept “{ciphers.title}” ({ciphers.get_state_display().lower()} now)."
            )
        waiting = upgrade.items.filter(required=True, obsolete=False).exclude(state=ItemState.ACCEPTED)
        if waiting.exists():
            titles = ", ".join(waiting.values_list("title", flat=True)[:3])
            more = waiting.count() - 3
            raise WorkflowError(
                f"Every required item must be accepted first. Still open: {titles}" + (f" and {more} more." if more > 0 else ".")
            )
        if upgrade.check_outcome != CheckOutcome.PASSED:
            raise WorkflowError("The prerequisite check must have passed first.")
        event = _move(upgrade, "approve", by=by)
        if upgrade.deployment.organisation.is_cloud:
            subject, next_step = "Upgrade approved: we plan your window", (
                "Your service is hosted on our cloud: we plan the maintenance window ourselves and tell every "
                "contact at least two weeks ahead (S3). Nothing needs booking."
            )
        else:
            subject, next_step = "Upgrade approved: support will send you the scheduling link", (
                "Support will send you the scheduling link in a separate e-mail: with it you choose the maintenance "
                "window. Until it arrives nothing can be booked; once issued, it is on the request's page too."
            )
        notify.notify(
            event=event, to=notify.customer_addresses(upgrade), subject=subject,
            lines=["Every prerequisite is in place and the prerequisite check passed: the upgrade is approved.", next_step],
        )
        return upgrade


def request_refuse(*, upgrade: UpgradeRequest, by: User, reason: str) -> UpgradeRequest:
    """S10: support may refuse to proceed when requirements are not met."""
    require_desk(by, upgrade)
    require_reason(reason, "Say why the request is refused.")
    with transaction.atomic(), pghistory.context(user=by.pk):
        event = _move(upgrade, "refuse", by=by, reason=reason, decision_reason=reason)
        notify.notify(
            event=event, to=notify.customer_addresses(upgrade), subject="Upgrade request refused",
            lines=["Support cannot proceed with this upgrade:", reason],
        )
        return upgrade


def request_withdraw(*, upgrade: UpgradeRequest, by: User, reason: str = "") -> UpgradeRequest:
    if not access.may(by, "request.withdraw", organisation_id=upgrade.deployment.organisation_id):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        # Held until the move: support cannot approve a cloud request between the check and it.
        locked = UpgradeRequest.objects.select_for_update().select_related("deployment__organisation").get(pk=upgrade.pk)
        if not allowed("withdraw", locked.state):
            raise WorkflowError(f"You cannot withdraw this request: it is {locked.get_state_display().lower()}.")
        if not customer_may_withdraw(locked):
            raise WorkflowError("Cloud upgrades are planned by the vendor (S3): ask support to change the plan.")
        # A withdrawn upgrade must not keep an engineer's time: the window goes first, with its own
        # cancellation notices; so does a prerequisite check still to come (a past one is over).
        if upgrade.windows.upgrades().holding().exists():
            raise WorkflowError("This upgrade has a booked maintenance window: cancel the window first, then withdraw.")
        if upgrade.windows.checks().holding().filter(period__startswith__gt=timezone.now()).exists():
            raise WorkflowError("The prerequisite check is booked: ask support to cancel it, then withdraw.")
        event = _move(upgrade, "withdraw", by=by, reason=reason, decision_reason=reason)
        if upgrade.submitted_at:
            notify.notify(
                event=event, to=notify.support_addresses(upgrade), subject="Upgrade request withdrawn",
                lines=[f"{by.full_name} withdrew the upgrade request." + (f" Reason: {reason}" if reason else "")],
            )
        return upgrade


def request_reopen(*, upgrade: UpgradeRequest, by: User, reason: str) -> UpgradeRequest:
    require_desk(by, upgrade, assigned=False)
    require_reason(reason, "Say why the request is reopened.")
    with transaction.atomic(), pghistory.context(user=by.pk):
        if upgrade.windows.upgrades().holding().exists():
            # A request back in review is not approved (S8): it must not keep a booked date.
            raise WorkflowError("This upgrade has a booked maintenance window: cancel the window first, then reopen.")
        _move(upgrade, "reopen", by=by, reason=reason, decision_reason=reason, assignee=by, check_outcome="")
        checklist_refresh(upgrade=upgrade)
        return upgrade


def request_close(*, upgrade: UpgradeRequest, by: User | None, move: str, reason: str = "") -> UpgradeRequest:
    """The request ends with its run (upgrades.services.lifecycle): completed, rolled back or
    aborted. Called in the run's closing transaction (and its audit context); a request that is
    not approved any more refuses, and the run's end is undone with it."""
    _move(upgrade, move, by=by, reason=reason, decision_reason=reason)
    return upgrade
