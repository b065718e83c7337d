"""Downloads of a window's notices: the calendar entry (.ics) and the ready-to-forward notice
for the customer's service users (S6, or its cancellation), for whoever may see the window."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from portal.selectors import visible_to
from portal.timezones import time_zone_names
from scheduling.announcement import users_notice
from scheduling.choices import WindowState
from scheduling.invites import CANCEL, REQUEST, invite_ics
from scheduling.models import MaintenanceWindow
from scheduling.services.notices import people_of


def _window(request, pk: int) -> MaintenanceWindow:
    windows = MaintenanceWindow.objects.select_related(
        "request__deployment__organisation", "request__release", "engineer"
    )
    return get_object_or_404(visible_to(windows, request.user), pk=pk)


def _download(content: str, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _stem(window: MaintenanceWindow) -> str:
    deployment = window.request.deployment
    return f"{deployment.organisation.slug}-{window.start:%Y-%m-%d}"


@require_GET
@login_required
def window_notice(request, pk: int):
    """The notice as the window stands: the planned maintenance, or its cancellation."""
    window = _window(request, pk)
    zone = request.GET.get("tz") or window.request.deployment.organisation.time_zone
    if zone not in time_zone_names():
        return HttpResponseBadRequest(f"“{zone}” is not a known time zone (for example Europe/London).",
                                      content_type="text/plain; charset=utf-8")
    notice = users_notice(window=window, zone=zone)
    if notice is None:
        raise Http404("A prerequisite check, or a move that never happened, has nothing to announce.")
    what = "notice" if window.is_holding else "cancellation"
    return _download(f"Subject: {notice.subject}\n\n{notice.body}", content_type="text/plain; charset=utf-8",
                     filename=f"maintenance-{what}-{_stem(window)}.txt")


@require_GET
@login_required
def window_ics(request, pk: int):
    window = _window(request, pk)
    method = CANCEL if window.state == WindowState.CANCELLED else REQUEST
    ics = invite_ics(window=window, method=method, attendees=list(people_of(window)))
    return _download(ics, content_type=f"text/calendar; charset=utf-8; method={method}",
                     filename=f"maintenance-window-{_stem(window)}.ics")
