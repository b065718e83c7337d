"""The notices that follow a run, through the outbox (portal.notices): once per event and person,
each person's times on their own clock, and only to those who want them where their role lets
them choose (portal.recipients.wanting). The keys say what happened:

    run:<pk>:started                     the engineer started the run
    run:<pk>:paused:<seq>                a step failed and the run paused (<seq>: the pause's event)
    run:<pk>:paused:<seq>:escalated      nobody took that failure within RUN_FAILURE_ESCALATE_MINUTES
    run:<pk>:ended                       it completed or rolled back, with the report as a PDF;
                                         or it was aborted, with who aborted it and why

Who is told:
1. Started, ended: the customer's contacts who are available for the whole window (S10: the lead,
   the application and the load balancer administrators) and the run's engineers (the window's,
   and one who took the run over).
2. Paused: the customer's lead contact and the support desk. The portal has no duty rota: every
   active support user is the desk. Escalated: the desk again, from beat (`failures_escalate`).
3. Ended: the mail waits for the report's PDF, printed by a worker in each reader's zone
   (`report_mail_send`, a task dispatched in the closing transaction: Chromium is slow). When
   printing fails the mail still goes, with the report's address instead. An aborted run is told
   to the same people at once, in the transaction that aborts it: who, why, how far it got.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from portal import recipients
from portal.choices import AVAILABLE_FOR_WINDOW, NoticeKind, Role
from portal.dispatch import dispatch
from portal.models import Contact, Notice, User
from portal.notices import binary_attachment, notice_enqueue
from upgrades.choices import RunState, StepState
from upgrades.models import LiveEvent, ReportPdf, Run

log = logging.getLogger(__name__)

TOPIC = "upgrades.run"
# The run's ends that send the report as a PDF (an aborted run's mail links to it).
REPORTED_ENDS = (RunState.COMPLETED, RunState.ROLLED_BACK)


# -- Who -------------------------------------------------------------------------------------


def contacts_for_the_window(run: Run) -> recipients.People:
    """S10: the contacts available for the whole window."""
    return recipients.of_contacts(Contact.objects.filter(
        organisation_id=run.deployment.organisation_id, roles__overlap=[role.value for role in AVAILABLE_FOR_WINDOW]))


def engineers_of(run: Run) -> recipients.People:
    return recipients.of_users([user for user in (run.window.engineer, run.driver) if user is not None])


def lead_of(run: Run) -> recipients.People:
    return recipients.contacts_who_may("run.decide_rollback", organisation_id=run.deployment.organisation_id)


def support_desk() -> recipients.People:
    """Every active support user: the portal keeps no duty rota, so the desk is told as one."""
    return recipients.of_users(User.objects.filter(is_active=True, role=Role.SUPPORT).select_related("contact"))


# -- How -------------------------------------------------------------------------------------


def _clock(moment: datetime, zone: str) -> str:
    local = timezone.localtime(moment, ZoneInfo(zone))
    return f"{local:%H:%M} {local.tzname()} on {local:%a} {local.day} {local:%b}"


def _link(name: str, pk: int) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=[pk])


def _enqueue(*, run: Run, key: str, people: recipients.People, subject: str, body_in: Callable[[str], list[str]],
             attachments_in: Callable[[str], list[dict]] | None = None) -> list[Notice]:
    """One notice per person, those of one zone written alike."""
    zones: dict[str, list[str]] = defaultdict(list)
    for address, zone in people.items():
        zones[zone].append(address)
    created = []
    for zone, addresses in sorted(zones.items()):
        body = "\n\n".join([
            *body_in(zone),
            f"Deployment: {run.deployment}\nUpgrade: {run.from_version} to {run.to_version} "
            f"({run.get_kind_display().lower()})",
        ]) + "\n"
        created += notice_enqueue(key=key, topic=f"{TOPIC}:{run.pk}", recipients=addresses,
                                  subject=f"[{run.deployment.organisation.name}] {subject}", body=body,
                                  attachments=attachments_in(zone) if attachments_in else None)
    return created


def _fresh(run: Run | int) -> Run:
    return Run.objects.select_related("deployment__organisation", "window__engineer", "driver", "failure_owner").get(
        pk=run if isinstance(run, int) else run.pk)


# -- Started ---------------------------------------------------------------------------------


def run_started(*, run: Run) -> None:
    """In the transaction that starts the run."""
    run = _fresh(run)
    people = recipients.wanting(contacts_for_the_window(run) | engineers_of(run), NoticeKind.RUN_STARTED)
    _enqueue(run=run, key=f"run:{run.pk}:started", people=people, subject="Your upgrade has started",
             body_in=lambda zone: [
                 f"{run.started_by.full_name if run.started_by else 'The engineer'} started the upgrade at "
                 f"{_clock(run.started_at or timezone.now(), zone)}. The window ends at {_clock(run.planned_end, zone)}.",
                 f"Follow it live: {_link('run-live', run.pk)}",
             ])


# -- Paused on a failure, and the escalation -----------------------------------------------------


def _failed_step_lines(run: Run) -> list[str]:
    step = run.steps.filter(state__in=(StepState.FAILED, StepState.INTERRUPTED)).order_by("-position").first()
    if step is None:
        return []
    return [f"Step: {step.action}" + (f"\nError: {step.error}" if step.error else "")]


def run_paused(*, run: Run, event: LiveEvent) -> None:
    """In the transaction that pauses the run on a failure (`event`: the pause's live event)."""
    run = _fresh(run)
    people = recipients.wanting(lead_of(run) | support_desk(), NoticeKind.RUN_PAUSED)
    _enqueue(run=run, key=f"run:{run.pk}:paused:{event.seq}", people=people,
             subject="A step of the upgrade failed: the run is paused",
             body_in=lambda zone: [
                 f"{event.text} at {_clock(event.at, zone)}. An engineer takes the failure and decides what "
                 f"happens next; the window ends at {_clock(run.planned_end, zone)}.",
                 *_failed_step_lines(run),
                 f"Follow it live: {_link('run-live', run.pk)}",
             ])


def failures_escalate(*, now: datetime | None = None) -> int:
    """Beat: each paused run whose failure nobody has taken within RUN_FAILURE_ESCALATE_MINUTES
    of its pause is told to the support desk again, once per pause; how many notices were written."""
    now = now or timezone.now()
    limit = timedelta(minutes=settings.RUN_FAILURE_ESCALATE_MINUTES)
    count = 0
    for run in Run.objects.filter(state=RunState.PAUSED, failure_owner__isnull=True):
        pause = LiveEvent.objects.filter(run=run, kind="run", data__state=RunState.PAUSED).order_by("-seq").first()
        if pause is None or pause.at > now - limit:
            continue
        with transaction.atomic():
            run = _fresh(run)
            if run.state != RunState.PAUSED or run.failure_owner_id is not None:
                continue  # taken (or resumed) since it was read: nothing to escalate
            waited = int((now - pause.at).total_seconds() // 60)
            count += len(_enqueue(
                run=run, key=f"run:{run.pk}:paused:{pause.seq}:escalated",
                people=recipients.wanting(support_desk(), NoticeKind.FAILURE_ESCALATED),
                subject=f"Escalation: nobody has taken the failure of a run paused for {waited} minutes",
                body_in=lambda zone, run=run, pause=pause: [
                    f"{pause.text} at {_clock(pause.at, zone)}, and no engineer has taken the failure since. "
                    f"The window ends at {_clock(run.planned_end, zone)}.",
                    *_failed_step_lines(run),
                    f"Take it on the live page: {_link('run-live', run.pk)}",
                ]))
    return count


# -- Ended, with the report -----------------------------------------------------------------------


def run_ended(*, run: Run, by: User | None, reason: str) -> None:
    """In the run's closing transaction: the report's mail is a worker's (it prints the PDF); an
    abort is told at once."""
    state = Run.objects.values_list("state", flat=True).get(pk=run.pk)
    if state in REPORTED_ENDS:
        dispatch("upgrades.run_report_mail", run.pk, about=f"run:{run.pk}:report-mail")
    elif state == RunState.ABORTED:
        _run_aborted(run=_fresh(run), by=by, reason=reason)


def _run_aborted(*, run: Run, by: User | None, reason: str) -> None:
    steps = list(run.steps.order_by("position").values_list("action", "state"))
    done = [action for action, state in steps if state in (StepState.SUCCEEDED, StepState.SKIPPED)]
    running = [action for action, state in steps if state == StepState.RUNNING]
    people = recipients.wanting(contacts_for_the_window(run) | engineers_of(run), NoticeKind.RUN_ENDED)
    _enqueue(run=run, key=f"run:{run.pk}:ended", people=people, subject="Your upgrade was aborted",
             body_in=lambda zone: [
                 f"{by.full_name if by else 'The portal'} aborted the upgrade at {_clock(run.finished_at, zone)}: "
                 f"{reason}",
                 f"{len(done)} of {len(steps)} steps were done" + (f", the last “{done[-1]}”." if done else ".")
                 + (f" “{running[0]}” was under way: it ends on its own and nothing follows it." if running else ""),
                 f"What was done, step by step: {_link('run-report', run.pk)}",
                 f"The upgrade can be requested again from the portal: {_link('request-detail', run.request_id)}",
             ])


def _pdf_in(run: Run, zone: str) -> bytes | None:
    """The report printed in `zone`, the one stored or printed now; None when Chromium cannot."""
    from upgrades.services.report import pdf_make

    try:
        with transaction.atomic():
            pdf = ReportPdf.objects.create(run=run, time_zone=zone)
    except IntegrityError:
        pdf = ReportPdf.objects.get(run=run, time_zone=zone)
    if pdf.content is None:
        pdf_make(pdf_id=pdf.pk)
        pdf.refresh_from_db()
    return bytes(pdf.content) if pdf.content is not None else None


def report_mail_send(*, run_id: int) -> int:
    """The worker's part of `run_ended`: the report in each reader's zone, attached; how many
    notices were written. Sent twice, it writes nothing more (the notices' keys)."""
    run = _fresh(run_id)
    if run.state not in REPORTED_ENDS:
        return 0
    key = f"run:{run.pk}:ended"
    told = set(Notice.objects.filter(key=key).values_list("recipient", flat=True))
    people = {address: zone for address, zone in
              recipients.wanting(contacts_for_the_window(run) | engineers_of(run), NoticeKind.RUN_ENDED).items()
              if address not in told}
    pdfs = {zone: _pdf_in(run, zone) for zone in set(people.values())}
    completed = run.state == RunState.COMPLETED
    report = _link("run-report", run.pk)

    def body_in(zone: str) -> list[str]:
        said = (f"The upgrade completed at {_clock(run.finished_at, zone)}: {run.deployment} runs {run.to_version}."
                if completed else
                f"The upgrade was rolled back at {_clock(run.finished_at, zone)}: {run.deployment} runs "
                f"{run.from_version} again.")
        where = ("The report is attached as a PDF; it is also on the portal" if pdfs[zone] is not None else
                 "The report could not be printed as a PDF just now; read it on the portal")
        return [said, f"{where}: {report}"]

    def attachments_in(zone: str) -> list[dict]:
        if pdfs[zone] is None:
            return []
        return [binary_attachment(name=f"upgrade-report-{run.pk}.pdf", content=pdfs[zone],
                                  content_type="application/pdf")]

    return len(_enqueue(run=run, key=key, people=people,
                        subject="Your upgrade is complete" if completed else "Your upgrade was rolled back",
                        body_in=body_in, attachments_in=attachments_in))
