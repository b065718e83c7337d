from datetime import date, datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from portal.timezones import time_zone_choices, time_zone_names
from scheduling import selectors
from scheduling.choices import HOLDING_STATES
from scheduling.services.booking import SlotTaken, window_book
from scheduling.services.links import LinkRefused, link_open
from upgrades.workflow import WorkflowError


def _zone(request, fallback: str) -> str:
    wanted = request.POST.get("tz") or request.GET.get("tz") or fallback
    return wanted if wanted in time_zone_names() else fallback


def _days(slots, zone: str):
    """Slots by local day, each day's standard slots first, out-of-hours apart."""
    tz = ZoneInfo(zone)
    local = [(slot, slot.start.astimezone(tz), slot.end.astimezone(tz)) for slot in slots]
    for day, entries in groupby(local, key=lambda entry: entry[1].date()):
        entries = list(entries)
        yield day, [e for e in entries if e[0].standard], [e for e in entries if not e[0].standard]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week(request) -> int:
    try:
        return max(int(request.GET.get("week", 0)), 0)
    except ValueError:
        return 0


@require_http_methods(["GET", "POST"])
@login_required
def book(request, token: str):
    """The customer's booking page, reached only through the scheduling link (S8)."""
    try:
        link = link_open(token=token, by=request.user)
    except LinkRefused as refusal:
        return render(request, "scheduling/link_refused.html", {"reason": str(refusal)}, status=403)
    upgrade = link.request
    zone = _zone(request, upgrade.deployment.organisation.time_zone)
    window = upgrade.windows.filter(state__in=HOLDING_STATES).first()
    error, status = "", 200
    if request.method == "POST" and window is None:
        slots = {slot.start: slot for slot in selectors.slots_for(request=upgrade)}
        try:
            start = datetime.fromisoformat(request.POST.get("start", ""))
        except ValueError:
            start = None
        slot = slots.get(start) if start and start.tzinfo else None
        if slot is None:
            error, status = "This slot is not free any more, or never was. Choose one of the free slots below.", 409
        else:
            try:
                window = window_book(
                    request=upgrade, start=slot.start, engineer_ids=list(slot.engineer_ids),
                    cover="standard" if slot.standard else "out_of_hours", by=request.user,
                )
            except SlotTaken as taken:
                error, status = str(taken), 409
            except WorkflowError as refusal:
                error, status = str(refusal), 409
    context = {"link": link, "upgrade": upgrade, "zone": zone, "zones": time_zone_choices(), "error": error,
               "window": window, "token": token}
    if window is None:
        days = list(_days(selectors.slots_for(request=upgrade), zone))
        week, weeks = _week(request), (len(days) and ((days[-1][0] - _monday(days[0][0])).days // 7 + 1))
        week = min(week, max(weeks - 1, 0))
        first = _monday(days[0][0]) + timedelta(weeks=week) if days else None
        context |= {
            "days": [day for day in days if first <= day[0] < first + timedelta(days=7)] if days else [],
            "week": week, "weeks": weeks, "week_start": first,
        }
    else:
        tz = ZoneInfo(zone)
        context["local"] = {
            "start": window.period.lower.astimezone(tz), "end": window.period.upper.astimezone(tz),
            "downtime_start": window.downtime.lower.astimezone(tz) if window.downtime else None,
            "downtime_end": window.downtime.upper.astimezone(tz) if window.downtime else None,
        }
    return render(request, "scheduling/book.html", context, status=status)
