from datetime import datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import access
from portal.models import NoticeState, User
from portal.selectors import notices_about
from upgrades import selectors
from upgrades.booking import booking
from upgrades.choices import RequestState
from upgrades.forms import CheckOutcomeForm, EvidenceForm, QueueFilterForm, ReasonForm, RequestForm
from upgrades.impact import impact_of
from upgrades.markdown import render as render_markdown
from upgrades.fleet import lab_control_of
from upgrades.lab.control import LabError
from upgrades.services import checklist, lab, preflight, releases, requests
from upgrades.versions import kind_between
from upgrades.workflow import EDITABLE_STATES, REVIEWABLE_STATES, WorkflowError, allowed

REQUESTS_PER_PAGE = 30


# Releases ---------------------------------------------------------------------------------


@require_GET
@login_required
def release_list(request):
    return render(request, "upgrades/release_list.html", {"releases": selectors.release_list(user=request.user)})


@require_GET
@login_required
def release_detail(request, version: str):
    release = selectors.release_get(user=request.user, version=version)
    return render(request, "upgrades/release_detail.html", {"release": release, "notes": render_markdown(release.notes)})


@require_POST
@login_required
def release_publish(request, version: str):
    release = selectors.release_get(user=request.user, version=version)
    try:
        releases.release_publish(release=release, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{release} is published: customers can read it and request it.")
    return redirect("release-detail", version=release.version)


@require_GET
@login_required
def deployment_changes(request, pk: int, version: str):
    """What changes for you: every release between the deployment's version and the target."""
    deployment = selectors.deployment_for_request(user=request.user, pk=pk)
    target = selectors.release_get(user=request.user, version=version)
    between = selectors.releases_between(current=deployment.cloudpaging_version, target=target)
    return render(
        request, "upgrades/deployment_changes.html",
        {
            "deployment": deployment, "target": target,
            "releases": [(release, render_markdown(release.notes)) for release in between],
        },
    )


# Requests ---------------------------------------------------------------------------------


def _impact(deployment, kind, server_count):
    return impact_of(
        kind=kind, servers=server_count,
        load_balanced_with_health_checks=deployment.has_load_balancer and deployment.health_checks,
    )


@require_http_methods(["GET", "POST"])
@login_required
def request_create(request, pk: int):
    deployment = selectors.deployment_for_request(user=request.user, pk=pk)
    if request.user.is_customer and not requests.customer_may_request(deployment):
        raise Http404  # S3: the vendor plans cloud upgrades; there is no request page for them
    newer = selectors.releases_newer_than(deployment.cloudpaging_version)
    form = RequestForm(request.POST or None, releases=newer)
    if request.method == "POST" and form.is_valid():
        try:
            created = requests.request_create(deployment=deployment, release=form.cleaned_data["release"], by=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Your request is started. Fill in the checklist, then submit it to support.")
            return redirect("request-detail", pk=created.pk)
    server_count = deployment.servers.count()
    options = [(release, _impact(deployment, kind_between(deployment.cloudpaging_version, release.version), server_count)) for release in newer]
    return render(
        request, "upgrades/request_create.html",
        {"deployment": deployment, "form": form, "options": options,
         "open_request": deployment.upgrade_requests.filter(state__in=list(EDITABLE_STATES) + [RequestState.APPROVED]).first()},
        status=400 if form.errors else 200,
    )


@require_GET
@login_required
def request_list(request):
    """The customer's "my upgrades"; for staff, the support queue with its filters."""
    filters = QueueFilterForm(request.GET or None)
    filters.is_valid()
    data = getattr(filters, "cleaned_data", {})
    queue = selectors.request_list(
        user=request.user, states=data.get("state") or None, assignee=data.get("assignee", ""), search=data.get("q", ""),
    ).order_by("state_changed_at" if request.user.is_vendor else "-created_at")
    page = Paginator(queue, REQUESTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "filters": filters, "query": request.GET.urlencode()}
    template = "upgrades/request_list.html#queue" if request.htmx else "upgrades/request_list.html"
    return render(request, template, context)


@require_GET
@login_required
def waiting_for_me(request):
    if not access.is_desk(request.user):
        raise Http404
    return render(request, "upgrades/waiting_for_me.html", selectors.waiting_for(user=request.user))


def _request_context(request, upgrade):
    items = selectors.checklist_of(upgrade)
    server_count = upgrade.deployment.servers.count()
    user = request.user
    # Only a live link is offered (not withdrawn, not expired); the page words the others.
    booking_link = upgrade.scheduling_links.status() if upgrade.state == RequestState.APPROVED else None
    return {
        "upgrade": upgrade,
        "deployment": upgrade.deployment,
        "items": items,
        "sections": _by_section(items),
        "progress": selectors.progress_of(items),
        "impact": _impact(upgrade.deployment, upgrade.kind, server_count),
        "timeline": selectors.timeline_of(upgrade),
        "notices": notices_about(f"upgrades.upgraderequest:{upgrade.pk}") if user.is_vendor else None,
        "can_edit": upgrade.state in EDITABLE_STATES and (user.is_vendor or user.is_customer),
        "can_review": upgrade.state in REVIEWABLE_STATES and upgrade.assignee_id == user.pk,
        "is_desk": access.is_desk(user),
        "may": _may(upgrade, user),
        "check_days": _check_days(upgrade, user) if access.is_desk(user) and allowed("schedule_check", upgrade.state) else [],
        "outcome_form": CheckOutcomeForm(),
        "reason_form": ReasonForm(),
        "notice_failed": NoticeState.FAILED,
        "booking_link": booking_link,
        "link_path": booking_link.link.path if booking_link and booking_link.live else "",
        # The upgrade's window: a check's appointment is a window too, but not this one.
        "window": upgrade.windows.upgrades().holding().select_related("engineer").first(),
        # The live upgrade: planned once the window is confirmed, kept once it has ended.
        "run": upgrade.runs.select_related("window").order_by("-created_at").first(),
        "may_request_again": user.is_customer and upgrade.state in (RequestState.ROLLED_BACK, RequestState.ABORTED)
        and not upgrade.deployment.organisation.is_cloud,
    }


def _may(upgrade, user) -> dict[str, bool]:
    may = {name: allowed(name, upgrade.state) for name in ("submit", "schedule_check", "approve", "refuse", "withdraw", "reopen")}
    if user.is_customer:
        # S3: a cloud customer submits nothing, and withdraws only what the vendor has not planned.
        may["submit"] = may["submit"] and requests.customer_may_request(upgrade.deployment)
        may["withdraw"] = may["withdraw"] and requests.customer_may_withdraw(upgrade)
    return may


# How far ahead support is offered free slots for the prerequisite check.
CHECK_DAYS = 14


def _check_days(upgrade, user):
    """Free check slots over the coming two weeks, by day in the support user's zone (S2)."""
    zone = ZoneInfo(user.time_zone)
    slots = booking().check_slots(upgrade=upgrade, within=timedelta(days=CHECK_DAYS))
    names = dict(User.objects.filter(pk__in={pk for slot in slots for pk in slot.engineer_ids}).values_list("pk", "full_name"))
    local = [(slot, slot.start.astimezone(zone), ", ".join(names[pk] for pk in slot.engineer_ids)) for slot in slots]
    return [(day, list(entries)) for day, entries in groupby(local, key=lambda entry: entry[1].date())]


def _schedule_check(upgrade, user, data):
    """Book the check on a free slot of the slot engine; the booking moves the request itself."""
    try:
        start = datetime.fromisoformat(data.get("start", ""))
    except ValueError:
        raise WorkflowError("Choose one of the free check slots.") from None
    booking().check_book(upgrade=upgrade, start=start, by=user,
                         not_free="That check slot is not free any more: choose another one.")


def _by_section(items):
    sections: dict[str, list] = {}
    for item in items:
        sections.setdefault(item.get_section_display(), []).append(item)
    return list(sections.items())


@require_GET
@login_required
def request_detail(request, pk: int):
    upgrade = selectors.request_get(user=request.user, pk=pk)
    return render(request, "upgrades/request_detail.html", _request_context(request, upgrade))


ACTIONS = {
    "submit": lambda r, u, f: requests.request_submit(request=r, by=u),
    "assign": lambda r, u, f: requests.request_assign(request=r, by=u),
    "take_over": lambda r, u, f: requests.request_assign(request=r, by=u, take_over=True),
    "approve": lambda r, u, f: requests.request_approve(request=r, by=u),
    "refuse": lambda r, u, f: requests.request_refuse(request=r, by=u, reason=f["reason"]),
    "withdraw": lambda r, u, f: requests.request_withdraw(request=r, by=u, reason=f.get("reason", "")),
    "reopen": lambda r, u, f: requests.request_reopen(request=r, by=u, reason=f["reason"]),
    "schedule_check": _schedule_check,
    "record_check": lambda r, u, f: requests.request_record_check(request=r, by=u, outcome=f["outcome"], notes=f["notes"]),
    "preflight": lambda r, u, f: preflight.preflight_request(request=r, by=u),
    "issue_link": lambda r, u, f: booking().link_issue(upgrade=r, by=u),
}
ACTION_FORMS = {"refuse": ReasonForm, "reopen": ReasonForm, "record_check": CheckOutcomeForm}
DONE = {
    "submit": "Submitted: support has been told and will review the checklist.",
    "assign": "The request is assigned to you.",
    "take_over": "You took the request over.",
    "approve": "Approved: the customer has been told that you send them the scheduling link. Issue the scheduling "
               "link now: they cannot book a window before it arrives.",
    "refuse": "Refused: the customer has been told why.",
    "withdraw": "The request is withdrawn.",
    "reopen": "The request is open for review again.",
    "schedule_check": "The prerequisite check is scheduled; the customer and the engineer have been told.",
    "record_check": "The outcome of the check is recorded.",
    "preflight": "The preflight is running: results appear on the checklist in a moment.",
    "issue_link": "The scheduling link is issued and mailed to the customer; any earlier link stops working.",
}


@require_POST
@login_required
def request_action(request, pk: int, action: str):
    if action not in ACTIONS:
        raise Http404
    upgrade = selectors.request_get(user=request.user, pk=pk)
    form_class = ACTION_FORMS.get(action)
    form = form_class(request.POST) if form_class else None
    if form is not None and not form.is_valid():
        context = _request_context(request, upgrade) | {f"{_form_key(action)}": form, "open_action": action}
        return render(request, "upgrades/request_detail.html", context, status=400)
    try:
        ACTIONS[action](upgrade, request.user, form.cleaned_data if form else {"reason": request.POST.get("reason", ""), "start": request.POST.get("start", "")})
    except WorkflowError as error:
        messages.error(request, str(error))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except PermissionDenied:
        raise
    else:
        messages.success(request, _done(action, upgrade))
    return redirect("request-detail", pk=upgrade.pk)


def _done(action: str, upgrade) -> str:
    if action == "approve" and upgrade.deployment.organisation.is_cloud:
        # S3: no link for a cloud customer; the vendor plans the window.
        return "Approved: the customer has been told that we plan the window. Plan it on the release's cloud plan."
    return DONE[action]


def _form_key(action: str) -> str:
    return {"record_check": "outcome_form"}.get(action, "reason_form")


# Checklist items (htmx partials) ----------------------------------------------------------


def _item_response(request, item, *, form=None, editing=False, error="", status=200):
    upgrade = item.request
    items = selectors.checklist_of(upgrade)
    fresh = next((candidate for candidate in items if candidate.pk == item.pk), item)
    context = {
        "item": fresh, "upgrade": upgrade, "form": form or EvidenceForm(initial={"text": fresh.evidence}),
        "editing": editing, "error": error, "progress": selectors.progress_of(items),
        "can_edit": upgrade.state in EDITABLE_STATES,
        "can_review": upgrade.state in REVIEWABLE_STATES and upgrade.assignee_id == request.user.pk,
        "reason_form": ReasonForm(), "oob_progress": True,
    }
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(f"{_detail_url(upgrade)}#item-{item.pk}")
    return render(request, "upgrades/partials/item.html", context, status=status)


def _detail_url(upgrade) -> str:
    return reverse("request-detail", args=[upgrade.pk])


@require_GET
@login_required
def item_detail(request, pk: int):
    item = selectors.item_get(user=request.user, pk=pk)
    return _item_response(request, item, editing=request.GET.get("edit") == "1")


@require_POST
@login_required
def item_provide(request, pk: int):
    item = selectors.item_get(user=request.user, pk=pk)
    form = EvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        return _item_response(request, item, form=form, editing=True, status=400)
    try:
        checklist.item_provide(item=item, by=request.user, text=form.cleaned_data["text"], files=form.cleaned_data["files"])
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error("files" if field == "files" else "text", errors)
        return _item_response(request, item, form=form, editing=True, status=400)
    except WorkflowError as error:
        return _item_response(request, item, error=str(error), status=409)
    return _item_response(request, item)


@require_POST
@login_required
def item_review(request, pk: int, verdict: str):
    item = selectors.item_get(user=request.user, pk=pk)
    try:
        if verdict == "accept":
            checklist.item_accept(item=item, by=request.user)
        elif verdict == "send_back":
            checklist.item_send_back(item=item, by=request.user, reason=request.POST.get("reason", ""))
        else:
            raise Http404
    except (WorkflowError, ValidationError) as error:
        message = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        return _item_response(request, item, error=message, status=409 if isinstance(error, WorkflowError) else 400)
    return _item_response(request, item)


@require_GET
@login_required
def attachment_download(request, pk: int):
    attachment = selectors.attachment_get(user=request.user, pk=pk)
    response = HttpResponse(bytes(attachment.content), content_type=attachment.content_type)
    # Always a download, never rendered by the browser in the portal's origin.
    response["Content-Disposition"] = f'attachment; filename="{attachment.name.replace(chr(34), "")}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@login_required
def attachment_delete(request, pk: int):
    attachment = selectors.attachment_get(user=request.user, pk=pk)
    item = attachment.item
    try:
        checklist.attachment_delete(attachment=attachment, by=request.user)
    except WorkflowError as error:
        return _item_response(request, item, error=str(error), status=409)
    return _item_response(request, item, editing=True)


# The lab fleet (staff, demo) --------------------------------------------------------------

LAB_FAULTS = [
    ("fail_next", "Fail next operation"), ("hang", "Hang next operation"), ("slow_health", "Slow health"),
    ("crash", "Crash"), ("break_repository", "Break repository"), (lab.CLEAR, "Clear faults"),
]


@require_GET
@login_required
def lab_fleet(request, pk: int):
    """A deployment's lab fleet as its load balancer sees it, with buttons that break it."""
    deployment = selectors.lab_deployment_get(user=request.user, pk=pk)
    control = lab_control_of(deployment)
    status, problem = None, ""
    if control is None:
        problem = "This deployment is not simulated by the lab fleet: its service address is not a loopback port."
    else:
        try:
            status = control.status()
        except LabError as error:
            problem = f"{error}. Is `manage.py labfleet` running?"
    context = {"deployment": deployment, "status": status, "problem": problem, "faults": LAB_FAULTS}
    template = "upgrades/lab_fleet.html#members" if request.htmx else "upgrades/lab_fleet.html"
    return render(request, template, context)


@require_POST
@login_required
def lab_fault(request, pk: int):
    deployment = selectors.lab_deployment_get(user=request.user, pk=pk)
    hostname, fault = request.POST.get("hostname", ""), request.POST.get("fault", "")
    try:
        lab.lab_fault_inject(deployment=deployment, hostname=hostname, fault=fault, by=request.user)
    except LabError as error:
        messages.error(request, str(error))
    else:
        label = dict(LAB_FAULTS)[fault]
        messages.success(request, f"{label}: done on {hostname}.")
    return redirect("lab-fleet", pk=deployment.pk)
