"""A person's calendar feed: the page where they make, replace and revoke its address
(/account/calendar/), and the feed at that address, which needs no log-in: its key is the
credential, for this feed alone."""

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, quote_etag
from django.views.decorators.http import require_GET, require_POST, require_safe

from portal import ratelimit
from scheduling.calendar_feeds import REFRESH, person_ics
from scheduling.selectors_feeds import feed_by_key, feed_name, feed_of, feed_scope, windows_concerning
from scheduling.services.feeds import calendar_feed_make, calendar_feed_revoke, calendar_feed_served


def _settings_page(request, *, key: str = ""):
    context = {"feed": feed_of(user=request.user), "scope": feed_scope(request.user),
               "refresh_minutes": int(REFRESH.total_seconds() // 60)}
    if key:
        url = request.build_absolute_uri(reverse("calendar-feed", args=[key]))
        context |= {"feed_url": url, "webcal_url": "webcal://" + url.split("://", 1)[1]}
    response = render(request, "scheduling/calendar_settings.html", context)
    if key:
        response["Cache-Control"] = "no-store"  # the address is on this answer alone
    return response


@require_GET
@login_required
def calendar_settings(request):
    return _settings_page(request)


@require_POST
@login_required
def calendar_make(request):
    """The address is on this answer and nowhere else: it is rendered, not redirected to."""
    _feed, key = calendar_feed_make(by=request.user)
    return _settings_page(request, key=key)


@require_POST
@login_required
def calendar_revoke(request):
    if calendar_feed_revoke(by=request.user):
        messages.success(request, "Your calendar feed is revoked: its address no longer opens, and calendars "
                                  "subscribed to it get nothing new.")
    else:
        messages.info(request, "You have no calendar feed.")
    return redirect("calendar-settings")


@require_safe
def calendar_feed(request, key: str):
    """The .ics of the windows that concern the feed's owner. A conditional request whose
    calendar has not changed is answered 304."""
    feed = feed_by_key(key=key)
    if wait := ratelimit.wait_for("calendar-feed", str(feed.pk), settings.CALENDAR_FEED_RATE):
        return ratelimit.too_many(wait, "fetches of this calendar")
    now = timezone.now()
    ics = person_ics(name=feed_name(feed.user), windows=windows_concerning(user=feed.user, now=now),
                     organisations_named=feed.user.is_vendor)
    digest = hashlib.sha256(ics.encode()).hexdigest()
    feed = calendar_feed_served(feed=feed, etag=digest, now=now)
    etag = quote_etag(digest)
    last_modified = int(feed.changed_at.timestamp())
    response = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if response is None:
        response = HttpResponse(ics, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="maintenance-windows.ics"'
    response["ETag"] = etag
    response["Last-Modified"] = http_date(last_modified)
    # The address is a secret: no shared cache keeps the answer, and the calendar asks again.
    response["Cache-Control"] = "private, no-cache"
    response["X-Robots-Tag"] = "noindex"
    response["X-Content-Type-Options"] = "nosniff"
    return response
