"""The conversation on an upgrade: writing a message, from the request's page or the live page.

The answer to htmx is the form again (emptied, or with the refusal and the words kept) and, where
no live event brings it, the new message appended to the list: on the request's page, and for an
internal note, which is never a live event."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal import access
from portal.pages import refusal
from upgrades import selectors, selectors_runs
from upgrades.services import conversation


def conversation_context(upgrade, user, run=None) -> dict:
    """What the conversation part of a page needs."""
    organisation_id = upgrade.deployment.organisation_id
    return {
        "upgrade": upgrade, "conversation_run": run, "is_vendor": user.is_vendor,
        "conversation": selectors.conversation_of(upgrade, vendor=user.is_vendor),
        "may_write": access.may(user, "conversation.write", organisation_id=organisation_id),
        "may_note_internal": access.may(user, "conversation.note_internal", organisation_id=organisation_id),
        "may_note_public": run is not None and access.may(user, "conversation.note_public",
                                                          organisation_id=organisation_id),
        "progress_notes": selectors_runs.progress_notes(run) if run is not None and run.may(user, "run.continue") else [],
    }


def _run(upgrade, request):
    """The run the message is written on, from the live page; None from the request's page."""
    chosen = request.POST.get("run", "")
    return get_object_or_404(upgrade.runs, pk=int(chosen)) if chosen.isdigit() else None


@require_POST
@login_required
def conversation_post(request, pk: int):
    upgrade = selectors.request_get(user=request.user, pk=pk)
    body = request.POST.get("note") or request.POST.get("body", "")
    internal = request.POST.get("internal") == "yes"
    public = request.POST.get("public") == "yes"
    run = _run(upgrade, request)
    try:
        posted = conversation.message_post(upgrade=upgrade, by=request.user, body=body, internal=internal,
                                           public=public, run=run)
    except ValidationError as error:
        if not request.htmx:
            messages.error(request, refusal(error))
            return redirect(reverse("request-detail", args=[upgrade.pk]) + "#conversation")
        context = {**conversation_context(upgrade, request.user, run=run), "message_errors": error.messages,
                   "message_body": body, "message_internal": internal, "message_public": public}
        return render(request, "upgrades/partials/conversation_form.html", context, status=400)
    if not request.htmx:
        messages.success(request, "Your message is sent.")
        page = reverse("run-live", args=[run.pk]) if run else reverse("request-detail", args=[upgrade.pk])
        return redirect(page + "#conversation")
    context = {**conversation_context(upgrade, request.user, run=run),
               "appended": posted if run is None or posted.internal else None}
    return render(request, "upgrades/partials/conversation_posted.html", context)


@csrf_exempt
@require_POST
def mail_inbound(request):
    """A reply by e-mail, posted whole (RFC 5322) by whatever receives the reply domain's mail:
    `make run`'s mail sink, or a mail server's pipe to curl. It carries INBOUND_MAIL_SECRET as
    its bearer token and may name the envelope's recipients in X-Envelope-To."""
    secret = settings.INBOUND_MAIL_SECRET
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not secret or not constant_time_compare(given, secret):
        return HttpResponse("Give the inbound mail secret as the bearer token.", status=403, content_type="text/plain")
    recipients = [address.strip() for address in request.headers.get("X-Envelope-To", "").split(",") if address.strip()]
    try:
        message = conversation.message_from_mail(request.body, recipients=recipients or None)
    except (ValidationError, PermissionDenied) as error:
        return HttpResponse(refusal(error), status=422, content_type="text/plain")
    return HttpResponse(f"Added to the conversation of upgrade {message.upgrade_id}.", status=201,
                        content_type="text/plain")
