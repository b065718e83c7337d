"""The customer's booking page, reached only through the scheduling link (S8): free slots as a
week calendar in a zone of their choice, the booking, and then the booked window with its
notice for their service users, a reschedule and a cancellation up to the cut-off."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from portal.timezones import time_zone_names
from portal.workflow import WorkflowError
from scheduling import selectors
from scheduling.announcement import users_notice
from scheduling.choices import Purpose, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.services.booking import SlotNotFree, SlotTaken, slot_book
from scheduling.services.links import LinkRefused, link_open
from scheduling.services.windows import customer_may_change, cutoff, slot_move, window_cancel
from scheduling.slots import Slot
from upgrades.impact import impact_of

MOVE_ASKED = ("The new time is out of hours: support confirms that staff are available. "
              "Until then your window stays booked at its current time.")
NOT_FREE = "This slot was just taken, or is no longer free. Choose one of the free slots below."


def zone_of(request, fallback: str) -> str:
    """The zone the viewer asked for (?tz=), if it is a real one; else `fallback`."""
    return zone_asked(request, fallback)[0]


def zone_asked(request, fallback: str) -> tuple[str, str]:
    """(zone, problem): the zone the viewer asked for (?tz=), or `fallback` with what was wrong
    with the name asked for ("" when nothing was asked or it is a real zone)."""
    wanted = (request.POST.get("tz") or request.GET.get("tz") or "").strip()
    if not wanted:
        return fallback, ""
    if wanted in time_zone_names():
        return wanted, ""
    return fallback, f"“{wanted[:64]}” is not a known time zone: type a name such as Europe/London or America/New_York."


def _page_asked(request) -> int:
    try:
        return max(int(request.POST.get("week") or request.GET["week"]), 0)
    except (KeyError, ValueError):
        return 0


def _hour_rows(entries: list[tuple[Slot, datetime]], days: list[date]) -> list[tuple[str, list[list]]]:
    """Rows of the calendar: one per local hour that has a slot, one cell per day."""
    cells: dict[tuple[int, date], list] = {}
    for slot, local in entries:
        cells.setdefault((local.hour, local.date()), []).append((slot, local))
    hours = sorted({local.hour for _, local in entries})
    return [(f"{hour:02d}:00", [cells.get((hour, day), []) for day in days]) for hour in hours]


def week_calendar(slots: list[Slot], zone: str, week: int, current: datetime | None = None) -> dict:
    """Page `week` of the free slots in `zone`: seven days from the local date of the first
    free slot (page 0), each later page the next seven, with standard and out-of-hours slots in
    two grids apart. The first free slot is named on every page, whichever grid holds it.
    `current` is the start of the window being moved: its slot is marked, not offered."""
    tz = ZoneInfo(zone)
    local = [(slot, slot.start.astimezone(tz)) for slot in slots]
    if not local:
        return {"weeks": 0}
    first = local[0][1].date()
    weeks = (local[-1][1].date() - first).days // 7 + 1
    week = min(week, weeks - 1)
    days = [first + timedelta(days=7 * week + offset) for offset in range(7)]
    shown = [(slot, start) for slot, start in local if days[0] <= start.date() <= days[-1]]
    return {
        "week": week, "weeks": weeks, "days": days, "earliest": local[0],
        "standard_days": {start.date() for slot, start in shown if slot.standard},
        "out_of_hours_days": {start.date() for slot, start in shown if not slot.standard},
        "standard": _hour_rows([entry for entry in shown if entry[0].standard], days),
        "out_of_hours": _hour_rows([entry for entry in shown if not entry[0].standard], days),
        "out_of_hours_count": sum(1 for slot, _ in shown if not slot.standard),
        "any_low_usage": any(slot.low_usage for slot in slots),
        "current": current,
        "current_shown": current is not None and any(slot.start == current for slot, _ in shown),
    }


def _download_url(name: str, window: MaintenanceWindow, zone: str | None = None) -> str:
    """The notice and calendar downloads, if their pages are installed."""
    try:
        url = reverse(name, args=[window.pk])
    except NoReverseMatch:
        return ""
    return f"{url}?{urlencode({'tz': zone})}" if zone else url


def window_facts(window: MaintenanceWindow, zone: str) -> dict:
    """A window's times by the clock of `zone`: the whole window, the service at risk and the
    planned downtime (S6), and the notice to forward to the service users (its cancellation once
    the window is cancelled)."""
    tz = ZoneInfo(zone)
    deployment = window.request.deployment
    facts = {"start": window.start.astimezone(tz), "end": window.end.astimezone(tz), "zone": zone}
    if window.purpose == Purpose.UPGRADE:
        impact = impact_of(
            kind=window.request.kind, servers=deployment.servers.count(),
            load_balanced_with_health_checks=deployment.has_load_balancer and deployment.health_checks,
        )
        facts |= {
            "at_risk_start": (window.end - impact.at_risk).astimezone(tz),
            "whole_window": impact.whole_window,
            "downtime_start": window.downtime.lower.astimezone(tz) if window.downtime else None,
            "downtime_end": window.downtime.upper.astimezone(tz) if window.downtime else None,
            "notice": users_notice(window=window, zone=zone),
            "notice_url": _download_url("window-notice", window, zone),
            "ics_url": _download_url("window-ics", window),
        }
    return facts


def slot_chosen(*, upgrade, start: str, zone: str, purpose: str = Purpose.UPGRADE,
                moving: MaintenanceWindow | None = None) -> dict | None:
    """What the person is about to book (or move to), for them to confirm: the slot at `start`
    if it is still free, its times by their clock and the support desk's and the customer's,
    how long it lasts, its cover and who is told. None when no free slot starts then."""
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        return None
    slot = selectors.slot_at(upgrade=upgrade, start=moment, purpose=purpose, exclude_window=moving)
    if slot is None:
        return None
    organisation = upgrade.deployment.organisation
    length = selectors.length_of(upgrade=upgrade, purpose=purpose)
    zones = [("Your choice", zone), (organisation.name, organisation.time_zone),
             ("Support", selectors.support_zone_of(organisation=organisation))]
    clocks, seen = [], set()
    for label, name in zones:
        if name and name not in seen:
            seen.add(name)
            tz = ZoneInfo(name)
            clocks.append((label, name, slot.start.astimezone(tz), (slot.start + length).astimezone(tz)))
    return {
        "slot": slot, "start": slot.start.astimezone(ZoneInfo(zone)), "clocks": clocks,
        "minutes": int(length.total_seconds() // 60),
        "standard": slot.standard or purpose == Purpose.CHECK,
        "contacts": selectors.contacts_told(organisation=organisation),
    }


def start_asked(request, refusal: str = NOT_FREE) -> datetime:
    """The start a booking form posted (one of the free slots'), else WorkflowError(refusal)."""
    try:
        return datetime.fromisoformat(request.POST.get("start", ""))
    except ValueError:
        raise WorkflowError(refusal) from None


def _back(token: str, zone: str):
    return redirect(f"{reverse('book', args=[token])}?{urlencode({'tz': zone})}")


@require_http_methods(["GET", "POST"])
@login_required
def book(request, token: str):
    """Book, reschedule or cancel the upgrade's window. A slot lost to somebody quicker is a
    409 with the fresh slots; a second click on the same slot finds the window the first made."""
    try:
        link = link_open(token=token, by=request.user)
    except LinkRefused as refusal:
        return render(request, "scheduling/link_refused.html", {"reason": str(refusal)}, status=403)
    upgrade = link.request
    zone, zone_problem = zone_asked(request, upgrade.deployment.organisation.time_zone)
    window = upgrade.windows.upgrades().holding().select_related(
        "request__deployment__organisation", "request__release", "engineer"
    ).first()
    action = request.POST.get("action", "book")
    note = request.POST.get("note", "").strip()
    error, status = (zone_problem, 400) if zone_problem else ("", 200)
    if request.method == "POST" and not zone_problem:
        try:
            if window is None and action == "book":
                window, _ = slot_book(upgrade=upgrade, start=start_asked(request), by=request.user, note=note)
                messages.success(request, "Your window is booked." if window.state == WindowState.CONFIRMED
                                 else "Your window is requested: support confirms it soon.")
            elif window is not None and action == "reschedule":
                moved = slot_move(window=window, start=start_asked(request), by=request.user,
                                  reason="Moved by the customer" + (f": {note}" if note else ""))
                messages.success(request, MOVE_ASKED if moved.move_of_id else
                                 "Your window is moved. Calendar invites follow the change.")
            elif window is not None and action == "cancel":
                reason = request.POST.get("reason", "").strip()
                if not reason:
                    error, status = "Say why the window is cancelled: everybody who is told reads it.", 400
                else:
                    window_cancel(window=window, by=request.user, reason=reason)
                    messages.success(request, "Your window is cancelled. You can book another one below.")
            # Anything else (a second click after the booking went through) shows the window as it is.
        except SlotNotFree:
            error, status = NOT_FREE, 409
        except SlotTaken as taken:
            error, status = str(taken), 409
        except WorkflowError as refusal:
            error, status = str(refusal), 409
        if not error:
            return _back(token, zone)

    rescheduling = window is not None and (action == "reschedule" or request.GET.get("reschedule") == "1")
    context = {
        "link": link, "upgrade": upgrade, "zone": zone, "zone_chosen": bool(request.GET.get("tz") or request.POST.get("tz")),
        "error": error,
        "window": window, "token": token, "rescheduling": rescheduling,
        "length_minutes": int(selectors.length_of(upgrade=upgrade).total_seconds() // 60),
        "cutoff_hours": int(cutoff().total_seconds() // 3600),
        "cloud": upgrade.deployment.organisation.is_cloud,
    }
    if window is not None:
        context |= {"facts": window_facts(window, zone), "may_change": customer_may_change(window)}
        if rescheduling and not context["may_change"]:
            error = error or "The window can no longer be moved here: call support."
            context |= {"error": error, "rescheduling": False}
    if (window is None or context["rescheduling"]) and not context["cloud"]:
        # Two steps: a slot clicked (?start=) is shown to confirm; only the confirmation books.
        asked = request.GET.get("start", "") if request.method == "GET" else ""
        chosen = slot_chosen(upgrade=upgrade, start=asked, zone=zone, moving=window) if asked else None
        if asked and chosen is None:
            context["error"], status = NOT_FREE, 409
        if chosen is not None:
            back = {"tz": zone, "week": _page_asked(request)} | ({"reschedule": 1} if context["rescheduling"] else {})
            context |= {"chosen": chosen, "back_url": f"{request.path}?{urlencode(back)}"}
        else:
            slots = selectors.slots_for(upgrade=upgrade, exclude_window=window)
            context["calendar"] = week_calendar(slots, zone, _page_asked(request),
                                                current=window.start if window is not None else None)
    template = "scheduling/book.html#booking" if request.htmx and not request.htmx.boosted else "scheduling/book.html"
    return render(request, template, context, status=status)
