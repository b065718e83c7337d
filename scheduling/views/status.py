"""The public status page of a deployment for the customer's service users (no log-in, at its
token's address), its feeds and e-mail subscription; and the customer's settings page for it."""

from math import ceil

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import ratelimit
from portal.selectors import deployment_get
from scheduling.forms import StatusPageForm, SubscribeForm
from scheduling.selectors_status import (
    may_manage_status_page, status_of, status_page_of, status_page_public, subscriber_by_token,
)
from scheduling.services.status import (
    status_page_rotate, status_page_save, subscriber_add, subscriber_confirm, subscriber_remove,
)
from scheduling.services.status_notices import absolute_url
from scheduling.status_feeds import status_atom, status_ics


@require_GET
def status_page(request, token: str):
    page = status_page_public(token=token)
    return render(request, "scheduling/status/page.html", _page_context(page, SubscribeForm()))


def _page_context(page, form) -> dict:
    return {
        "status": status_of(page), "form": form,
        "calendar_url": absolute_url("status-calendar", page.token),
        "webcal_url": "webcal://" + absolute_url("status-calendar", page.token).split("://", 1)[1],
        "feed_url": absolute_url("status-feed", page.token),
    }


@require_POST
def status_subscribe(request, token: str):
    page = status_page_public(token=token)
    form = SubscribeForm(request.POST)
    if not form.is_valid():
        return render(request, "scheduling/status/page.html", _page_context(page, form), status=400)
    # Each subscription mails a confirmation to the address given: one client may not have the
    # portal mail many strangers.
    if wait := ratelimit.wait_for("status-subscribe", request.META.get("REMOTE_ADDR", ""),
                                  settings.STATUS_SUBSCRIBE_CLIENT_RATE):
        form.add_error("email", f"Too many subscriptions from your address: try again in {ceil(wait / 60)} min.")
        return render(request, "scheduling/status/page.html", _page_context(page, form), status=429)
    subscriber_add(page=page, email=form.cleaned_data["email"])
    return render(request, "scheduling/status/subscription.html",
                  {"page": page, "title": "Check your inbox",
                   "text": "We sent you a link to confirm your subscription. Nothing else is sent until you open it."})


@require_GET
def status_feed(request, token: str):
    page = status_page_public(token=token)
    atom = status_atom(status=status_of(page), page_url=absolute_url("status-page", page.token),
                       feed_url=absolute_url("status-feed", page.token))
    return HttpResponse(atom, content_type="application/atom+xml; charset=utf-8")


@require_GET
def status_calendar(request, token: str):
    page = status_page_public(token=token)
    return HttpResponse(status_ics(status=status_of(page), now=timezone.now()),
                        content_type="text/calendar; charset=utf-8")


@require_http_methods(["GET", "POST"])
def status_confirm(request, token: str):
    """The link of the confirmation mail: a button, so a mail scanner opening the link
    subscribes nobody."""
    subscriber = subscriber_by_token(token=token)
    if request.method == "POST":
        subscriber_confirm(subscriber=subscriber)
    return render(request, "scheduling/status/subscription.html", {
        "page": subscriber.page, "subscriber": subscriber, "action": "confirm",
        "title": "Subscription confirmed" if subscriber.confirmed_at else "Confirm your subscription",
        "text": (f"You will be told by e-mail about maintenance of {subscriber.page.service_name}."
                 if subscriber.confirmed_at else f"Send news of maintenance of {subscriber.page.service_name} "
                                                 f"to {subscriber.email}?"),
    })


# RFC 8058: the mail client posts "List-Unsubscribe=One-Click" without a form of ours.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def status_unsubscribe(request, token: str):
    subscriber = subscriber_by_token(token=token)
    page = subscriber.page
    if request.method == "POST":
        subscriber_remove(subscriber=subscriber)
        return render(request, "scheduling/status/subscription.html", {
            "page": page, "title": "Unsubscribed",
            "text": f"{subscriber.email} gets no more mails about maintenance of {page.service_name}.",
        })
    return render(request, "scheduling/status/subscription.html", {
        "page": page, "subscriber": subscriber, "action": "unsubscribe", "title": "Unsubscribe",
        "text": f"Stop sending news of maintenance of {page.service_name} to {subscriber.email}?",
    })


def _managed_deployment(request, pk: int):
    deployment = deployment_get(user=request.user, pk=pk)
    if not may_manage_status_page(request.user, deployment):
        raise Http404
    return deployment


@require_http_methods(["GET", "POST"])
@login_required
def status_settings(request, pk: int):
    """The customer switches their users' status page on or off and names the service."""
    deployment = _managed_deployment(request, pk)
    page = status_page_of(deployment=deployment)
    initial = {"service_name": page.service_name, "enabled": page.enabled} if page else {"service_name": ""}
    form = StatusPageForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        page = status_page_save(deployment=deployment, by=request.user, **form.cleaned_data)
        messages.success(request, "The status page is on." if page.enabled else "The status page is off.")
        return redirect("status-settings", pk=deployment.pk)
    return render(request, "scheduling/status/settings.html", {
        "deployment": deployment, "organisation": deployment.organisation, "page": page, "form": form,
        "page_url": absolute_url("status-page", page.token) if page else "",
    }, status=400 if form.errors else 200)


@require_POST
@login_required
def status_rotate(request, pk: int):
    deployment = _managed_deployment(request, pk)
    page = status_page_of(deployment=deployment)
    if page is None:
        raise Http404
    status_page_rotate(page=page, by=request.user)
    messages.success(request, "The status page has a new address: the old one no longer opens.")
    return redirect("status-settings", pk=deployment.pk)
