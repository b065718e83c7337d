"""Support's cloud plan of a release (S3): plan, move, confirm, and the notices' state."""

from datetime import date, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from portal import access
from portal.workflow import WorkflowError
from scheduling.models import MaintenanceWindow
from scheduling.services import cloud
from scheduling.services.booking import SlotTaken
from scheduling.services.windows import window_confirm
from upgrades import selectors as upgrade_selectors


def _plan(request, release):
    outcome = cloud.cloud_plan_release(release=release, by=request.user)
    if outcome.planned:
        messages.success(request, f"Proposed {len(outcome.planned)} window{'s' if len(outcome.planned) != 1 else ''}: "
                                  "adjust them if needed, then confirm.")
    elif not outcome.unplanned:
        messages.success(request, "Every cloud deployment is planned already: nothing new to propose.")
    for deployment, reason, blocking in outcome.unplanned:
        if blocking is None:
            messages.error(request, f"{deployment.organisation.name} · {deployment.name}: {reason}")
        else:
            messages.error(request, format_html(
                '{} · {}: {} <a href="{}">Open upgrade request #{}</a>', deployment.organisation.name, deployment.name,
                reason, reverse("request-detail", args=[blocking.pk]), blocking.pk,
            ))


def _window(release, request) -> MaintenanceWindow:
    try:
        return cloud.cloud_window_of(release=release, pk=int(request.POST.get("window", "")))
    except (ValueError, MaintenanceWindow.DoesNotExist):
        raise ValidationError("This window is not on the plan any more: reload the page.") from None


def _confirm(request, release):
    window = window_confirm(window=_window(release, request), by=request.user)
    messages.success(request, f"Confirmed: the notice goes to {window.request.deployment.organisation.name} "
                              "within a few minutes.")


def _move(request, release):
    try:
        start = datetime.fromisoformat(request.POST.get("start", ""))
    except ValueError:
        raise ValidationError("Choose one of the free slots.") from None
    window = cloud.cloud_window_move(window=_window(release, request), start=start, by=request.user)
    messages.success(request, f"Moved {window.request.deployment.name} to {window.start:%d %B %Y %H:%M} UTC.")


def _confirm_all(request, release):
    confirmed, refused = cloud.cloud_confirm_all(release=release, by=request.user)
    messages.success(request, f"Confirmed {len(confirmed)} window{'s' if len(confirmed) != 1 else ''}.")
    for window, reason in refused:
        messages.error(request, f"{window.request.deployment.organisation.name} · {window.request.deployment.name}: {reason}")


ACTIONS = {"plan": _plan, "confirm": _confirm, "move": _move, "confirm_all": _confirm_all}


def _week_of(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@require_http_methods(["GET", "POST"])
@login_required
def cloud_plan(request, version: str):
    """Every cloud deployment against this release: its proposed or confirmed window, the
    engineer, the notice; support plans, moves and confirms here."""
    if not request.user.is_vendor:
        raise Http404
    release = upgrade_selectors.release_get(user=request.user, version=version)
    error, status = "", 200
    if request.method == "POST":
        action = ACTIONS.get(request.POST.get("action", ""))
        if action is None:
            error, status = "Unknown action.", 400
        else:
            try:
                action(request, release)
            except PermissionDenied:
                raise
            except ValidationError as refusal:
                error, status = " ".join(refusal.messages), 400
            except (WorkflowError, SlotTaken) as refusal:
                error, status = str(refusal), 409
            else:
                return redirect("cloud-plan", version=release.version)
    rows = cloud.cloud_plan_rows(release=release)
    moving, move_slots, week_of = None, [], _week_of(request.GET.get("from", ""))
    if request.GET.get("move", "").isdigit():
        moving = next((row for row in rows if row.window and row.window.pk == int(request.GET["move"])), None)
        if moving is not None:
            week_of = week_of or (timezone.now() + cloud.notice_days()).astimezone(moving.zone).date()
            move_slots = [
                {"slot": slot, "day": slot.start.astimezone(moving.zone).date()}
                for slot in cloud.move_slots(window=moving.window, week_of=week_of)
            ]
    context = {
        "release": release, "rows": rows, "error": error, "moving": moving, "move_slots": move_slots,
        "week_of": week_of,
        "may_act": access.is_desk(request.user), "notice_days": cloud.notice_days().days,
        "proposed": sum(1 for row in rows if row.window and row.window.state == "proposed"),
    }
    return render(request, "scheduling/cloud_plan.html", context, status=status)
