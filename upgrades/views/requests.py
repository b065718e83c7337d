"""Upgrade requests: asking, the support queue, the request page and its moves."""

from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal import access
from portal.choices import NoticeState
from portal.pages import carry_out
from portal.selectors import notices_about
from upgrades import selectors, selectors_homes
from upgrades.booking import booking
from upgrades.choices import RequestState
from upgrades.forms import CheckOutcomeForm, QueueFilterForm, ReasonForm, RequestForm
from upgrades.impact import impact_of
from upgrades.services import preflight, requests
from upgrades.views.conversation import conversation_context
from upgrades.versions import kind_between
from upgrades.workflow import EDITABLE_STATES, REVIEWABLE_STATES, WorkflowError, allowed


REQUESTS_PER_PAGE = 30


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
    if request.htmx:
        return render(request, "upgrades/request_list.html#queue", context)
    if request.user.is_customer:
        context["homes"] = selectors_homes.customer_home(user=request.user)
    return render(request, "upgrades/request_list.html", context)


@require_GET
@login_required
def waiting_for_me(request):
    if not access.is_desk(request.user):
        raise Http404
    return render(request, "upgrades/waiting_for_me.html", selectors_homes.desk_inbox(user=request.user))


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
        **_item_rights(upgrade, user),
        "preflight_pending": selectors.preflight_pending(upgrade),
        "is_desk": access.is_desk(user),
        "may": _may(upgrade, user),
        "check_days": _check_days(upgrade, user, request.GET.get("check_week", ""))
        if access.is_desk(user) and allowed("schedule_check", upgrade.state) else {},
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
        **conversation_context(upgrade, user),
    }


def _item_rights(upgrade, user) -> dict[str, bool]:
    return {
        "can_edit": upgrade.state in EDITABLE_STATES and (user.is_vendor or user.is_customer),
        "can_review": upgrade.state in REVIEWABLE_STATES and upgrade.assignee_id == user.pk,
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


def _check_days(upgrade, user, week: str = ""):
    """Free check slots over the coming two weeks as a week grid, by the support user's clock
    and the customer's (S2)."""
    return booking().check_calendar(upgrade=upgrade, within=timedelta(days=CHECK_DAYS), zone=user.time_zone,
                                    week=int(week) if week.isdigit() else 0)


def _by_section(items):
    sections: dict[str, list] = {}
    for item in items:
        sections.setdefault(item.get_section_display(), []).append(item)
    return list(sections.items())


@require_GET
@login_required
def request_detail(request, pk: int):
    upgrade = selectors.request_get(user=request.user, pk=pk)
    if request.htmx and request.GET.get("part") == "preflight":
        return _preflight_part(request, upgrade)
    return render(request, "upgrades/request_detail.html", _request_context(request, upgrade))


def _preflight_part(request, upgrade):
    """What the page asks every few seconds while a preflight runs: still running, or its results,
    with the items it measured and the progress swapped in (out of band)."""
    pending = selectors.preflight_pending(upgrade)
    items = [] if pending else selectors.checklist_of(upgrade)
    return render(request, "upgrades/request_detail.html#preflight", {
        "upgrade": upgrade, "preflight_pending": pending, "preflight_done": not pending,
        "measured": [item for item in items if item.preflight], "progress": selectors.progress_of(items),
        **_item_rights(upgrade, request.user),
    })


# The page's moves: each takes the person, the request and what its form said, makes the move
# through the service and says what happened.


def _submit(by, upgrade, data) -> str:
    requests.request_submit(upgrade=upgrade, by=by)
    return "Submitted: support has been told and will review the checklist."


def _assign(by, upgrade, data) -> str:
    requests.request_assign(upgrade=upgrade, by=by)
    return "The request is assigned to you."


def _take_over(by, upgrade, data) -> str:
    requests.request_assign(upgrade=upgrade, by=by, take_over=True)
    return "You took the request over."


def _schedule_check(by, upgrade, data) -> str:
    """Book the check on a free slot of the slot engine; the booking moves the request itself."""
    try:
        start = datetime.fromisoformat(data.get("start", ""))
    except ValueError:
        raise WorkflowError("Choose one of the free check slots.") from None
    booking().check_book(upgrade=upgrade, start=start, by=by,
                         not_free="That check slot is not free any more: choose another one.")
    return "The prerequisite check is scheduled; the customer and the engineer have been told."


def _record_check(by, upgrade, data) -> str:
    requests.request_record_check(upgrade=upgrade, by=by, outcome=data["outcome"], notes=data["notes"])
    return "The outcome of the check is recorded."


def _preflight(by, upgrade, data) -> str:
    preflight.preflight_request(upgrade=upgrade, by=by)
    return "The preflight is running: results appear on the checklist in a moment."


def _approve(by, upgrade, data) -> str:
    requests.request_approve(upgrade=upgrade, by=by)
    if upgrade.deployment.organisation.is_cloud:
        # S3: no link for a cloud customer; the vendor plans the window.
        return "Approved: the customer has been told that we plan the window. Plan it on the release's cloud plan."
    return ("Approved: the customer has been told that you send them the scheduling link. Issue the scheduling "
            "link now: they cannot book a window before it arrives.")


def _issue_link(by, upgrade, data) -> str:
    booking().link_issue(upgrade=upgrade, by=by)
    return "The scheduling link is issued and mailed to the customer; any earlier link stops working."


def _refuse(by, upgrade, data) -> str:
    requests.request_refuse(upgrade=upgrade, by=by, reason=data["reason"])
    return "Refused: the customer has been told why."


def _withdraw(by, upgrade, data) -> str:
    requests.request_withdraw(upgrade=upgrade, by=by, reason=data.get("reason", ""))
    return "The request is withdrawn."


def _reopen(by, upgrade, data) -> str:
    requests.request_reopen(upgrade=upgrade, by=by, reason=data["reason"])
    return "The request is open for review again."


ACTIONS = {
    "submit": _submit, "assign": _assign, "take_over": _take_over, "schedule_check": _schedule_check,
    "record_check": _record_check, "preflight": _preflight, "approve": _approve, "issue_link": _issue_link,
    "refuse": _refuse, "withdraw": _withdraw, "reopen": _reopen,
}
# The moves that take a form, and the page's name for it: an invalid one is shown again (400).
FORMS = {"refuse": (ReasonForm, "reason_form"), "reopen": (ReasonForm, "reason_form"),
         "record_check": (CheckOutcomeForm, "outcome_form")}


@require_POST
@login_required
def request_action(request, pk: int, action: str):
    if action not in ACTIONS:
        raise Http404
    upgrade = selectors.request_get(user=request.user, pk=pk)
    data = request.POST
    if action in FORMS:
        form_class, name = FORMS[action]
        form = form_class(request.POST)
        if not form.is_valid():
            context = _request_context(request, upgrade) | {name: form, "open_action": action}
            return render(request, "upgrades/request_detail.html", context, status=400)
        data = form.cleaned_data
    carry_out(request, lambda: ACTIONS[action](request.user, upgrade, data))
    return redirect("request-detail", pk=upgrade.pk)
