"""Maintenance windows as people see them: the staff calendar (a week, or a list with filters)
and the window page, where support confirms (S7), and support or the customer (before the
cut-off) reschedules or cancels."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from portal import access
from portal.choices import Role
from portal.models import Contact, User
from portal.selectors import notices_about
from portal.workflow import WorkflowError
from scheduling import selectors
from scheduling.choices import Purpose, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.services import lifecycle
from scheduling.services.booking import SlotNotFree, SlotTaken
from scheduling.services.windows import customer_may_change, cutoff, slot_move, window_cancel, window_confirm
from scheduling.views.booking import MOVE_ASKED, NOT_FREE, slot_chosen, start_asked, week_calendar, window_facts, zone_asked
from scheduling.workflow import allowed
from upgrades.choices import RunState, StepProcedure
from upgrades.services import plans
from upgrades.services.readiness import readiness_of

WINDOWS_PER_PAGE = 50


# The staff calendar -------------------------------------------------------------------------


def _week_start(request, tz: ZoneInfo) -> tuple[date, str]:
    """The Monday of the week asked for (?week=<any date in it>), else of this week."""
    today = timezone.now().astimezone(tz).date()
    asked, problem = request.GET.get("week", ""), ""
    try:
        day = date.fromisoformat(asked) if asked else today
    except ValueError:
        day, problem = today, f"“{asked}” is not a date (for example {today.isoformat()}): showing this week."
    return day - timedelta(days=day.weekday()), problem


def _week_context(request, tz: ZoneInfo) -> dict:
    monday, problem = _week_start(request, tz)
    days = [monday + timedelta(days=offset) for offset in range(7)]
    start = datetime.combine(monday, time(0), tzinfo=tz)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz)
    windows = list(selectors.windows_between(user=request.user, start=start, end=end))
    by_day = {day: [] for day in days}
    for window in windows:
        local_start = window.start.astimezone(tz)
        # A window that began before Monday is shown on Monday, where the week meets it.
        by_day[max(local_start.date(), monday)].append((window, local_start, window.end.astimezone(tz)))
    return {
        "view": "week", "problem": problem, "monday": monday, "today": timezone.now().astimezone(tz).date(),
        "previous": (monday - timedelta(days=7)).isoformat(), "next": (monday + timedelta(days=7)).isoformat(),
        "columns": [(day, by_day[day]) for day in days], "count": len(windows),
    }


def _list_context(request, tz: ZoneInfo) -> dict:
    problems = []
    engineer_id = request.GET.get("engineer", "")
    if engineer_id and not (engineer_id.isdigit() and User.objects.filter(pk=engineer_id, role=Role.ENGINEER).exists()):
        problems.append("That engineer is not known: showing every engineer.")
        engineer_id = ""
    state = request.GET.get("state", "")
    if state and state not in WindowState.values:
        problems.append("That state is not known: showing every state.")
        state = ""
    since = datetime.combine(timezone.now().astimezone(tz).date(), time(0), tzinfo=tz)
    windows = selectors.windows_list(user=request.user, engineer_id=int(engineer_id or 0), state=state, since=since)
    page = Paginator(windows, WINDOWS_PER_PAGE).get_page(request.GET.get("page"))
    return {
        "view": "list", "problem": " ".join(problems), "page": page,
        "rows": [(window, window.start.astimezone(tz), window.end.astimezone(tz)) for window in page.object_list],
        "engineers": User.objects.filter(role=Role.ENGINEER, is_active=True).order_by("full_name"),
        "states": WindowState.choices, "engineer_id": engineer_id, "state": state,
        "waiting": MaintenanceWindow.objects.filter(state=WindowState.REQUESTED).count(),
    }


@require_GET
@login_required
def windows(request):
    """Engineers' and support's calendar of windows, upgrades and checks, in the viewer's zone."""
    if not request.user.is_vendor:
        raise Http404
    tz = ZoneInfo(request.user.time_zone)
    context = _list_context(request, tz) if request.GET.get("view") == "list" else _week_context(request, tz)
    context["zone"] = request.user.time_zone
    return render(request, "scheduling/windows_calendar.html", context)


# My windows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MyWindow:
    """One line of "My windows": the window in the viewer's clock, its run and what it still needs."""

    window: MaintenanceWindow
    start: datetime
    end: datetime
    run: object | None
    readiness: list
    is_open: bool  # the window's time has come and not gone

    @property
    def ready(self) -> bool:
        return all(row.ok for row in self.readiness)

    @property
    def may_start(self) -> bool:
        return self.run is not None and self.run.state == RunState.SCHEDULED and self.is_open and self.ready


@require_GET
@login_required
def my_windows(request):
    """Where engineers start their day: today's and the coming windows assigned to them (support
    and administrators: everybody's), each run's state, and a start button once the window is
    open and everything S11 asks for immediately before is recorded."""
    if not request.user.is_vendor:
        raise Http404
    tz = ZoneInfo(request.user.time_zone)
    now = timezone.now()
    today = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
    page = Paginator(selectors.my_windows(user=request.user, since=today), WINDOWS_PER_PAGE).get_page(
        request.GET.get("page"))
    rows = []
    for window in page.object_list:
        run = getattr(window, "run", None) if window.purpose == Purpose.UPGRADE else None
        rows.append(MyWindow(
            window=window, start=window.start.astimezone(tz), end=window.end.astimezone(tz), run=run,
            readiness=readiness_of(run, now=now) if run is not None and run.state == RunState.SCHEDULED else [],
            is_open=window.start <= now < window.end,
        ))
    return render(request, "scheduling/my_windows.html", {
        "rows": rows, "page": page, "zone": request.user.time_zone, "today": today.date(),
        "everyone": request.user.role != Role.ENGINEER,
    })


# One window -----------------------------------------------------------------------------------


def _move_context(request, window: MaintenanceWindow, zone: str) -> tuple[dict, int]:
    """Moving the window in two steps, as booking it: the free slots as weeks of seven days with
    the current time marked (?move=1&week=), then the slot chosen (?start=) to confirm."""
    try:
        week = max(int(request.GET.get("week", 0)), 0)
    except ValueError:
        week = 0
    asked = request.GET.get("start", "")
    if asked:
        chosen = slot_chosen(upgrade=window.request, start=asked, zone=zone, purpose=window.purpose, moving=window)
        if chosen is not None:
            back = urlencode({"move": 1, "week": week})
            return {"moving": True, "chosen": chosen, "back_url": f"{request.path}?{back}#move",
                    "move_url": reverse("window-action", args=[window.pk, "reschedule"])}, 200
    slots = selectors.slots_for(upgrade=window.request, purpose=window.purpose, exclude_window=window)
    context = {"moving": True, "calendar": week_calendar(slots, zone, week, current=window.start)}
    if asked:
        return context | {"move_error": NOT_FREE}, 409
    return context, 200


def _notices(window: MaintenanceWindow, user: User):
    notices = notices_about(f"scheduling.maintenancewindow:{window.pk}")
    if user.is_vendor:
        return notices
    # The customer sees what went to their own people, not support's internal mail.
    organisation = window.request.deployment.organisation
    return notices.filter(recipient__in=Contact.objects.filter(organisation=organisation).values("email"))


@require_GET
@login_required
def window_detail(request, pk: int):
    window = selectors.window_get(user=request.user, pk=pk)
    user = request.user
    organisation = window.request.deployment.organisation
    viewer_zone, home_zone = user.time_zone, organisation.time_zone
    desk = access.is_desk(user)
    zone, zone_problem = zone_asked(request, home_zone)
    run = plans.run_for_window(window)
    under_way = run is not None and run.state in lifecycle.UNDER_WAY
    may_change = window.is_holding and not under_way and (desk or (user.is_customer and customer_may_change(window)))
    context = {
        "run": run, "under_way": under_way,
        "plan": run.steps.filter(procedure=StepProcedure.UPGRADE).order_by("position") if run else [],
        "plan_problem": plans.plan_problem(window)
        if run is None and window.purpose == Purpose.UPGRADE and window.state == WindowState.CONFIRMED else "",
        "may_plan": user.is_vendor and run is None and window.purpose == Purpose.UPGRADE
        and window.state == WindowState.CONFIRMED,
        "window": window, "upgrade": window.request, "organisation": organisation,
        "facts": window_facts(window, zone),
        "zone_problem": zone_problem, "zone_chosen": bool(request.GET.get("tz")),
        "clocks": [
            (label, zone, window.start.astimezone(ZoneInfo(zone)), window.end.astimezone(ZoneInfo(zone)))
            for label, zone in _clocks(user, viewer_zone, home_zone, window)
        ],
        "notices": _notices(window, user),
        "timeline": window.request.timeline.filter(action__startswith="window_").select_related("actor").order_by("at", "pk"),
        "may_confirm": desk and allowed("confirm", window.state),
        "may_change": may_change,
        "late_for_customer": user.is_customer and window.is_holding and not under_way
        and window.purpose == Purpose.UPGRADE and not organisation.is_cloud and not customer_may_change(window),
        "cutoff_hours": int(cutoff().total_seconds() // 3600),
        "viewer_zone": viewer_zone,
    }
    status = 400 if zone_problem else 200
    if may_change and window.move_of_id is None and (request.GET.get("move") == "1" or "start" in request.GET):
        move, status = _move_context(request, window, viewer_zone)
        context |= move
    return render(request, "scheduling/window_detail.html", context, status=status)


def _clocks(user: User, viewer_zone: str, home_zone: str, window: MaintenanceWindow) -> list[tuple[str, str]]:
    """The clocks a window is read by: the viewer's, the customer's, and (for staff) the engineer's."""
    clocks = [("Your time", viewer_zone)]
    if home_zone != viewer_zone:
        clocks.append((window.request.deployment.organisation.name, home_zone))
    engineer = getattr(window.engineer, "engineer", None)
    if user.is_vendor and engineer is not None and engineer.time_zone not in (viewer_zone, home_zone):
        clocks.append((f"{window.engineer.full_name} (engineer)", engineer.time_zone))
    return clocks


DONE = {
    "plan": "The run is planned: its steps and times are below.",
    "confirm": "The window is confirmed: the customer's contacts receive the calendar invite.",
    "reschedule": "The window is moved: calendar invites follow the change.",
    "cancel": "The window is cancelled: everybody who had it in their calendar is told.",
}


@require_POST
@login_required
def window_action(request, pk: int, action: str):
    """Confirm, reschedule or cancel; a refusal (a race lost, the cut-off, a slot gone) is a
    message on the window page and changes nothing."""
    if action not in DONE:
        raise Http404
    window = selectors.window_get(user=request.user, pk=pk)
    done = DONE[action]
    try:
        if action == "plan":
            lifecycle.window_plan(window=window, by=request.user)
        elif action == "confirm":
            confirmed = window_confirm(window=window, by=request.user)
            if window.move_of_id:
                done, window = "The move is confirmed: the window is at the new time, calendar invites follow.", confirmed
        elif action == "reschedule":
            start = start_asked(request, "Choose one of the free slots in the list.")
            moved = slot_move(window=window, start=start, by=request.user, reason=request.POST.get("reason", "").strip())
            if moved.move_of_id:
                done = MOVE_ASKED
        else:
            window_cancel(window=window, by=request.user, reason=request.POST.get("reason", ""))
            if window.move_of_id:
                done, window = "The move is declined: the window stays where it was, and the customer is told.", window.move_of
    except SlotNotFree:
        messages.error(request, NOT_FREE)
    except (WorkflowError, SlotTaken) as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, done)
    return redirect("window-detail", pk=window.pk)
