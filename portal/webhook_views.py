"""The webhook pages: an organisation's endpoints (its lead, the desk) and the vendor's own (the
desk); each endpoint's delivery log, its test, its switch and its secret's rotation."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portal import selectors
from portal.forms import WebhookEndpointForm
from portal.webhook_endpoints import webhook_endpoint_add, webhook_endpoint_switch, webhook_secret_rotate
from portal.webhooks import webhook_test_send


@require_http_methods(["GET", "POST"])
@login_required
def organisation_webhooks(request, slug: str):
    organisation = selectors.organisation_get(user=request.user, slug=slug)
    return _endpoints(request, organisation)


@require_http_methods(["GET", "POST"])
@login_required
def vendor_webhooks(request):
    return _endpoints(request, None)


def _endpoints(request, organisation):
    endpoints = selectors.webhook_endpoints_of(user=request.user, organisation=organisation)
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = webhook_endpoint_add(organisation=organisation, by=request.user, **form.cleaned_data)
        except ValidationError as error:  # the address refused (the form checked the rest)
            form.add_error("url", error)
        else:
            messages.success(request, f"{endpoint.name} is added.")
            return _detail(request, endpoint, new_secret=secret)
    return render(request, "portal/webhooks.html", {
        "organisation": organisation, "endpoints": endpoints, "form": form,
    }, status=400 if form.errors else 200)


@require_http_methods(["GET"])
@login_required
def webhook_detail(request, pk: int):
    return _detail(request, selectors.webhook_endpoint_get(user=request.user, pk=pk))


def _detail(request, endpoint, *, new_secret: str = ""):
    return render(request, "portal/webhook_detail.html", {
        "endpoint": endpoint, "organisation": endpoint.organisation, "new_secret": new_secret,
        "deliveries": selectors.webhook_deliveries(endpoint=endpoint),
    })


@require_POST
@login_required
def webhook_test(request, pk: int):
    """The "Send test" button: posts a test event now and says how the receiver answered."""
    endpoint = selectors.webhook_endpoint_get(user=request.user, pk=pk)
    delivery = webhook_test_send(endpoint=endpoint, by=request.user)
    if request.htmx:
        return render(request, "portal/webhook_detail.html#test-result", {"endpoint": endpoint, "test": delivery})
    if delivery.delivered_at:
        messages.success(request, f"The test was delivered: the receiver answered {delivery.last_status}.")
    else:
        messages.error(request, f"The test was not delivered: {delivery.last_error}")
    return redirect("webhook-detail", pk=endpoint.pk)


@require_POST
@login_required
def webhook_rotate(request, pk: int):
    """A new signing secret, shown on this answer only."""
    endpoint = selectors.webhook_endpoint_get(user=request.user, pk=pk)
    try:
        secret = webhook_secret_rotate(endpoint=endpoint, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("webhook-detail", pk=endpoint.pk)
    messages.success(request, "The endpoint has a new signing secret. The previous one signs alongside it for "
                              "24 hours: give the receiver the new one before then.")
    endpoint.refresh_from_db()
    return _detail(request, endpoint, new_secret=secret)


@require_POST
@login_required
def webhook_switch(request, pk: int):
    endpoint = selectors.webhook_endpoint_get(user=request.user, pk=pk)
    enabled = request.POST.get("enabled") == "on"
    webhook_endpoint_switch(endpoint=endpoint, by=request.user, enabled=enabled)
    messages.success(request, f"{endpoint.name} is {'on' if enabled else 'off: nothing is sent to it'}.")
    return redirect("webhook-detail", pk=endpoint.pk)
