"""The live upgrade as people see it (S12-S17): one page for the engineer and the customer, each
with their own controls; the actions behind those controls; the report, as a page and a PDF.

Every action calls a service of the engine, decisions or rollback part; a refusal (a race
lost, a move not allowed now, someone else owning the failure, a bad reason) becomes a message
on the live page and changes nothing."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from portal import dispatch, ratelimit
from upgrades import selectors_runs
from upgrades.choices import ReadinessKind, RollbackMethod, RunState
from upgrades.fleet import is_lab
from upgrades.procedure import Performer, StepKind
from upgrades.runflow import FINISHED_RUN_STATES, RunError
from upgrades.services import decisions, readiness, report, rollback, runs
from upgrades.views.conversation import conversation_context

# The parts of the live page htmx asks for alone: the chart every few seconds, a person's own
# controls when an event says they may have changed (upgrades/fragments.py).
PARTS = {
    "board": "upgrades/run_live.html#board",
    "controls": "upgrades/partials/run_controls.html",
    "chart": "upgrades/run_live.html#chart",
}

log = logging.getLogger(__name__)

# How often the page that waits for a PDF asks again.
PDF_POLL_SECONDS = 2


def _controls(run, user) -> dict:
    """What this viewer may press now. The services check again (portal.access.RULES): this only
    hides what would be refused."""
    vendor, finished = user.is_vendor, run.state in FINISHED_RUN_STATES
    waiting, failed = selectors_runs.step_waiting(run), selectors_runs.step_failed(run)
    open_rollback = selectors_runs.rollback_open(run)
    confirm = None
    if waiting is not None and waiting.kind == StepKind.CHECKS:
        if run.may(user, "run.confirm_as_engineer") and waiting.confirmed_by_engineer_id is None:
            confirm = waiting
        elif (run.may(user, "run.confirm_as_customer") and waiting.performer == Performer.ENGINEER_AND_ADMIN
              and waiting.confirmed_by_customer_id is None):
            confirm = waiting
    owner = run.failure_owner
    paused_on_failure = failed is not None and run.state == RunState.PAUSED
    # Rollbacks and rebuilds are decisions on a failure (S14-S16): its owner's, on a paused run.
    owns = paused_on_failure and owner == user and run.may(user, "run.take_failure")
    scheduled = run.state == RunState.SCHEDULED
    rows = readiness.readiness_of(run) if scheduled else []
    motion = selectors_runs.motion_of(run)
    driver = run.driven_by
    return {
        "motion": motion,
        "driver": driver,
        "may_take_over": not finished and driver != user and run.may(user, "run.take_over"),
        "may_continue": motion is not None and motion.may_continue and run.may(user, "run.continue"),
        "may_start": scheduled and run.may(user, "run.start"),
        "readiness": rows,
        "ready": all(row.ok for row in rows),
        "may_confirm_snapshots": scheduled and run.may(user, "run.snapshots"),
        "may_confirm_backup": scheduled and run.may(user, "run.backup"),
        "may_preflight": scheduled and run.may(user, "run.preflight"),
        "confirm_step": confirm,
        "failed_step": failed if not finished else None,
        "may_take": paused_on_failure and owner != user and run.may(user, "run.take_failure"),
        "owns_failure": owns,
        "may_abort": run.state in (RunState.RUNNING, RunState.PAUSED) and run.may(user, "run.abort"),
        "rollback_methods": [(method, RollbackMethod(method).label) for method in rollback.rollback_methods(run)]
        if owns and open_rollback is None else [],
        "rollback_advised": vendor and not finished and rollback.rollback_advised(run),
        "open_rollback": open_rollback,
        "may_decide_rollback": open_rollback is not None and run.may(user, "run.decide_rollback"),
        "may_rebuild": owns,
        "groups": list(run.deployment.groups.order_by("position").values_list("position", flat=True))
        if vendor else [],
        "sign_off_step": waiting if waiting is not None and waiting.kind == StepKind.SIGN_OFF
        and run.may(user, "run.sign_off") else None,
    }


def _board(run, user) -> dict:
    return {**selectors_runs.board_of(run), "controls": _controls(run, user), "is_vendor": user.is_vendor}


@require_GET
@login_required
def run_live(request, pk: int):
    """The same URL for the engineer and the customer; htmx asks for one part at a time."""
    run = selectors_runs.run_get(user=request.user, pk=pk)
    part = request.GET.get("part", "")
    if request.htmx and part in PARTS:
        context = {"run": run}
        if part == "board":
            context = _board(run, request.user)
        elif part == "controls":
            context.update(controls=_controls(run, request.user), is_vendor=request.user.is_vendor)
        else:
            context.update(chart=selectors_runs.chart_points(run), availability=selectors_runs.availability_of(run),
                           finished=run.state in FINISHED_RUN_STATES)
        return render(request, PARTS[part], context)
    # The cursor comes from the run as first read, and the log shown stops at it: a line written
    # while the rest of the page is read comes through the event stream, never twice.
    cursor = selectors_runs.last_seq(run)
    context = _board(run, request.user)
    context.update({
        "log": selectors_runs.log_tail(run, upto=cursor), "last_seq": cursor, "chart": selectors_runs.chart_points(run),
        "availability": selectors_runs.availability_of(run), "log_page": selectors_runs.LOG_TAIL,
        "log_kept": selectors_runs.LOG_KEPT,
        "lab": request.user.is_vendor and is_lab(run.deployment),
        **conversation_context(run.request, request.user, run=run),
    })
    return render(request, "upgrades/run_live.html", context)


def _reason(request, *, required: bool = True) -> str:
    reason = request.POST.get("reason", "").strip()
    if required and not reason:
        raise ValidationError("Say why, in a few words: it is kept with the decision.")
    return reason


def _step(request, run):
    try:
        return selectors_runs.step_get(run=run, pk=int(request.POST.get("step", "")))
    except ValueError:
        raise ValidationError("Choose a step.") from None


def _start(request, run):
    runs.run_start(run=run, by=request.user)
    return "The upgrade has started."


def _ready(kind: str):
    def confirm(request, run):
        readiness.readiness_confirm(run=run, kind=kind, by=request.user, note=request.POST.get("note", "").strip())
        return f"Recorded: {ReadinessKind(kind).label}."
    return confirm


def _preflight(request, run):
    readiness.preflight_request(run=run, by=request.user)
    return "The preflight is running: its result appears here in a moment."


def _confirm(request, run):
    passed = request.POST.get("passed", "yes") != "no"
    runs.step_confirm(step=_step(request, run), by=request.user, passed=passed,
                      note=request.POST.get("note", "").strip())
    return "Your confirmation is recorded." if passed else "Recorded as failed: the upgrade is paused."


def _take(request, run):
    decisions.failure_take(run=run, by=request.user, force=request.POST.get("force") == "yes")
    return "The failure is yours: choose what to do next."


def _take_over(request, run):
    decisions.run_take_over(run=run, by=request.user, reason=_reason(request))
    return "You drive this upgrade now."


def _retry(request, run):
    decisions.step_retry(step=_step(request, run), by=request.user, reason=_reason(request, required=False))
    return "The step runs again."


def _fixed(request, run):
    decisions.step_mark_fixed(step=_step(request, run), by=request.user, reason=_reason(request))
    return "Marked as fixed: the upgrade goes on."


def _skip(request, run):
    decisions.step_skip(step=_step(request, run), by=request.user, reason=_reason(request))
    return "The step is skipped: the upgrade goes on."


def _abort(request, run):
    decisions.run_abort(run=run, by=request.user, reason=_reason(request))
    return "The upgrade is stopped."


def _rollback(request, run):
    method = request.POST.get("method", "")
    if method not in rollback.rollback_methods(run):
        raise ValidationError("Choose one of the rollback methods offered.")
    rollback.rollback_request(run=run, by=request.user, method=method, reason=_reason(request))
    return "The rollback is requested: the customer's lead contact is asked to authorise it."


def _decide(authorise: bool):
    def decide(request, run):
        decision = selectors_runs.rollback_open(run)
        if decision is None:
            raise RunError("No rollback is waiting for a decision.")
        rollback.rollback_decide(decision=decision, by=request.user, authorise=authorise, reason=_reason(request))
        return "The rollback is authorised: it starts now." if authorise else "The rollback is refused."
    return decide


def _rebuild(request, run):
    try:
        group = int(request.POST.get("group", ""))
    except ValueError:
        raise ValidationError("Choose a server group.") from None
    rollback.rebuild_request(run=run, server_group=group, by=request.user, reason=_reason(request))
    return f"Server group {group} is rebuilt: uninstall, reboot, reinstall, reconnect."


def _continue(request, run):
    step = runs.run_continue(run=run, by=request.user)
    return f"{step.action}: sent to a worker again."


def _sign_off(request, run):
    name = request.POST.get("name", "").strip()
    if not name:
        raise ValidationError("Sign with your name.")
    runs.run_sign_off(run=run, by=request.user, name=name, comment=request.POST.get("comment", "").strip())
    return "Signed off: the upgrade is complete. The report is below."


ACTIONS = {
    "snapshots": _ready(ReadinessKind.SNAPSHOTS), "backup": _ready(ReadinessKind.BACKUP), "preflight": _preflight,
    "start": _start, "confirm": _confirm, "take": _take, "take-over": _take_over, "retry": _retry, "fixed": _fixed, "skip": _skip,
    "abort": _abort, "rollback": _rollback, "authorise": _decide(True), "refuse": _decide(False),
    "rebuild": _rebuild, "sign-off": _sign_off, "continue": _continue,
}

# Said after a move whose next task could not be handed to the queue: the move is saved.
QUEUE_AWAY = " The task queue is not answering: the upgrade goes on as soon as it is back."


def _refusal(error: Exception) -> str:
    if isinstance(error, PermissionDenied):
        return str(error) or "That is not yours to do on this upgrade."
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


@require_POST
@login_required
def run_action(request, pk: int, action: str):
    run = selectors_runs.run_get(user=request.user, pk=pk)
    if action not in ACTIONS:
        raise Http404
    asked = timezone.now()
    try:
        done = ACTIONS[action](request, run)
    except (RunError, PermissionDenied, ValidationError) as refusal:
        messages.error(request, _refusal(refusal))
    else:
        messages.success(request, done + (QUEUE_AWAY if dispatch.unsent_since(asked) else ""))
    return redirect("run-live", pk=run.pk)


# The report ---------------------------------------------------------------------------------


@require_GET
@login_required
def run_report(request, pk: int):
    run = selectors_runs.run_get(user=request.user, pk=pk)
    return render(request, "upgrades/run_report.html", {**selectors_runs.report_of(run, vendor=request.user.is_vendor), "zone": request.user.time_zone})


@require_GET
@login_required
def run_report_pdf(request, pk: int):
    """The report as a PDF, printed once per time zone by a worker and then served as stored: the
    first to ask waits a few seconds on a page that reloads itself."""
    run = selectors_runs.run_get(user=request.user, pk=pk)
    if run.state not in FINISHED_RUN_STATES:
        return HttpResponse("The report becomes a PDF once the upgrade has ended: until then the report page "
                            "shows it as it stands.\n", status=409, content_type="text/plain; charset=utf-8")
    zone = request.user.time_zone
    pdf = run.pdfs.filter(time_zone=zone).first()
    if pdf is None:
        if wait := ratelimit.wait_for("report-pdf", str(request.user.pk), settings.REPORT_PDF_RATE):
            return ratelimit.too_many(wait, "PDFs asked for")
        pdf = report.pdf_ask(run=run, zone=zone)
    if pdf.content is not None:
        response = HttpResponse(bytes(pdf.content), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="upgrade-report-{run.pk}.pdf"'
        return response
    if pdf.error:
        report.pdf_forget(pdf)
        return HttpResponse(
            "The PDF cannot be made on this server just now. The report page holds the same content: "
            "print it from your browser, or try again later.\n", status=503, content_type="text/plain; charset=utf-8",
        )
    response = render(request, "upgrades/report_pdf_wait.html", {"run": run, "retry": PDF_POLL_SECONDS}, status=202)
    response["Retry-After"] = str(PDF_POLL_SECONDS)
    return response
