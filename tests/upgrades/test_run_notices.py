"""The notices that follow a run, read back from a real SMTP server: it starts (the contacts
available for the window and the engineer), a step fails and the run pauses (the lead contact
and the support desk), nobody takes the failure (support again, once), it completes (everyone
of the start, with the report as a real PDF). One mail per event and person, each person's
times on their own clock."""

import time
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from portal.choices import NoticeState
from portal.models import Contact, Notice
from tests.conftest import deliver_outbox, mail_text, wait_for
from tests.upgrades.decide_stories import ADMIN_1, drive, fresh, make_run, paused, step, waiting_for_sign_off
from tests.upgrades.runs import open_run, start
from upgrades.choices import RunState, StepState
from upgrades.models import LiveEvent, Release
from upgrades.services import run_notices
from upgrades.services.decisions import failure_take, step_retry
from upgrades.services.engine import pause
from upgrades.services.runs import run_sign_off

LEAD = "olivia.bennett@northwind.example"
APPLICATION_ADMIN = "rahul.mehta@northwind.example"
LOAD_BALANCER_ADMIN = "grace.liu@northwind.example"
ENGINEER = "engineer@vendor.example"
SUPPORT = "support@vendor.example"
NEW_YORK = "America/New_York"


def _subject(message) -> str:
    return " ".join(message["Subject"].split())  # long subjects arrive folded


def _mails(inbox, subject_part: str) -> list:
    return [message for message in inbox if subject_part in _subject(message)]


def _to(messages) -> Counter:
    return Counter(message["To"].lower() for message in messages)


def _delivered(inbox, subject_part: str, people: set[str]) -> list:
    wait_for(lambda: set(_to(_mails(inbox, subject_part))) >= people, timeout=60)
    wait_for(lambda: not Notice.objects.exclude(state=NoticeState.SENT).exists(), timeout=30)
    return _mails(inbox, subject_part)


def _clock(moment, zone: str) -> str:
    return f"{timezone.localtime(moment, ZoneInfo(zone)):%H:%M %Z}"


def test_a_run_that_fails_and_completes_mails_each_person_once_per_event_in_their_zone(
        workers, inbox, northwind_lab, northwind_deployment, customer, engineer):
    Contact.objects.filter(email=LOAD_BALANCER_ADMIN).update(time_zone=NEW_YORK)
    northwind_lab.control.inject(ADMIN_1, "fail_next", reason="The installer cannot write to C:\\Program Files")
    run = make_run(deployment=northwind_deployment, version="9.5.0", by=customer)
    start(run, engineer=engineer, customer=customer)

    started = _delivered(inbox, "Your upgrade has started", {LEAD, APPLICATION_ADMIN, LOAD_BALANCER_ADMIN, ENGINEER})
    assert _to(started) == {LEAD: 1, APPLICATION_ADMIN: 1, LOAD_BALANCER_ADMIN: 1, ENGINEER: 1}
    run = fresh(run)
    by_person = {message["To"].lower(): mail_text(message) for message in started}
    assert f"started the upgrade at {_clock(run.started_at, NEW_YORK)}" in by_person[LOAD_BALANCER_ADMIN]
    assert f"started the upgrade at {_clock(run.started_at, 'Europe/London')}" in by_person[LEAD]

    run = drive(run, engineer=engineer, customer=customer, until=paused)
    failed = _delivered(inbox, "the run is paused", {LEAD, SUPPORT})
    assert _to(failed) == {LEAD: 1, SUPPORT: 1}
    assert "cannot write to C:\\Program Files" in mail_text(failed[0])

    time.sleep(1)  # the engineer reads the error
    failure_take(run=run, by=engineer)
    step_retry(step=step(run, "stop-g1"), by=engineer, reason="Permissions corrected")
    run = drive(run, engineer=engineer, customer=customer, until=waiting_for_sign_off)
    run_sign_off(run=run, by=customer, name="Olivia Bennett", comment="All good")

    done = _delivered(inbox, "Your upgrade is complete", {LEAD, APPLICATION_ADMIN, LOAD_BALANCER_ADMIN, ENGINEER})
    assert _to(done) == {LEAD: 1, APPLICATION_ADMIN: 1, LOAD_BALANCER_ADMIN: 1, ENGINEER: 1}
    for message in done:
        (pdf,) = [part for part in message.walk() if part.get_content_type() == "application/pdf"]
        assert pdf.get_filename() == f"upgrade-report-{run.pk}.pdf"
        assert pdf.get_payload(decode=True).startswith(b"%PDF-")
        assert "The report is attached as a PDF" in mail_text(message)
    # The report's mail sent again (a redelivered task) writes nothing more.
    assert run_notices.report_mail_send(run_id=run.pk) == 0
    # Nobody got any of the run's mails twice.
    assert max(Counter((message["To"], _subject(message)) for message in inbox).values()) == 1


# -- Without the worker: the escalation, the report when printing fails --------------------------


def test_a_failure_nobody_takes_is_escalated_to_support_once(
        inbox, time_machine, customer, engineer, northwind_deployment, settings):
    settings.RUN_FAILURE_ESCALATE_MINUTES = 10
    time_machine.move_to(timezone.now(), tick=False)
    run = open_run(deployment=northwind_deployment, release=Release.objects.get(version="9.5.0"), by=customer,
                   state=RunState.RUNNING, started_at=timezone.now(), started_by=engineer)
    pause(run, "The run is paused: Stop group 1 failed")
    deliver_outbox(inbox)
    assert _to(_mails(inbox, "the run is paused")) == {LEAD: 1, SUPPORT: 1}

    time_machine.shift(timedelta(minutes=9))
    assert run_notices.failures_escalate() == 0  # not yet
    time_machine.shift(timedelta(minutes=2))
    assert run_notices.failures_escalate() == 1
    assert run_notices.failures_escalate() == 0  # beat again: once per pause
    deliver_outbox(inbox)
    (escalation,) = _mails(inbox, "Escalation")
    assert escalation["To"] == SUPPORT
    assert "paused for 11 minutes" in _subject(escalation)
    assert "no engineer has taken the failure" in mail_text(escalation)


def test_a_failure_taken_in_time_is_not_escalated(inbox, time_machine, customer, engineer, northwind_deployment):
    time_machine.move_to(timezone.now(), tick=False)
    run = open_run(deployment=northwind_deployment, release=Release.objects.get(version="9.5.0"), by=customer,
                   state=RunState.RUNNING, started_at=timezone.now(), started_by=engineer)
    pause(run, "The run is paused: Stop group 1 failed")
    failure_take(run=run, by=engineer)
    time_machine.shift(timedelta(minutes=30))
    assert run_notices.failures_escalate() == 0
    assert not Notice.objects.filter(key__endswith=":escalated").exists()
    assert LiveEvent.objects.filter(run=run, kind="run", data__state=RunState.PAUSED).count() == 1


def _completed_run(*, customer, engineer, northwind_deployment):
    run = open_run(deployment=northwind_deployment, release=Release.objects.get(version="9.5.0"), by=customer)
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.COMPLETED, started_at=timezone.now(),
                                                    started_by=engineer, finished_at=timezone.now())
    return fresh(run)


def test_when_the_report_cannot_be_printed_the_mail_still_goes_with_its_address(
        inbox, monkeypatch, customer, engineer, northwind_deployment):
    from upgrades import report_pdf

    monkeypatch.setattr(report_pdf, "CHROMIUM", "/nonexistent/chromium")  # a server without the browser
    run = _completed_run(customer=customer, engineer=engineer, northwind_deployment=northwind_deployment)

    assert run_notices.report_mail_send(run_id=run.pk) == 4
    deliver_outbox(inbox)
    done = _mails(inbox, "Your upgrade is complete")
    assert _to(done) == {LEAD: 1, APPLICATION_ADMIN: 1, LOAD_BALANCER_ADMIN: 1, ENGINEER: 1}
    for message in done:
        assert not [part for part in message.walk() if part.get_content_type() == "application/pdf"]
        report = settings.SITE_URL.rstrip("/") + reverse("run-report", args=[run.pk])
        assert f"could not be printed as a PDF just now; read it on the portal: {report}" in mail_text(message)


def test_a_contact_who_switched_off_the_start_is_not_mailed_it_and_the_others_are(
        inbox, client_for, colleague, customer, engineer, northwind_deployment):
    response = client_for(colleague).post("/account/notices/", {"run_started": "none"})
    assert response.status_code == 302
    run = open_run(deployment=northwind_deployment, release=Release.objects.get(version="9.5.0"), by=customer,
                   state=RunState.RUNNING, started_at=timezone.now(), started_by=engineer)

    run_notices.run_started(run=run)
    deliver_outbox(inbox)
    assert _to(_mails(inbox, "Your upgrade has started")) == {LEAD: 1, LOAD_BALANCER_ADMIN: 1, ENGINEER: 1}


def test_an_aborted_run_is_mailed_to_those_told_of_its_start_with_who_why_and_how_far_it_got(
        inbox, client_for, time_machine, customer, engineer, northwind_deployment):
    Contact.objects.filter(email=LOAD_BALANCER_ADMIN).update(time_zone=NEW_YORK)
    time_machine.move_to(timezone.now(), tick=False)
    run = open_run(deployment=northwind_deployment, release=Release.objects.get(version="9.5.0"), by=customer,
                   state=RunState.RUNNING, started_at=timezone.now(), started_by=engineer)
    first, second = run.steps.order_by("position")[:2]
    run.steps.filter(pk=first.pk).update(state=StepState.SUCCEEDED, finished_at=timezone.now())
    pause(run, "The run is paused: Stop group 1 failed")
    failure_take(run=run, by=engineer)

    answer = client_for(engineer).post(reverse("run-action", args=[run.pk, "abort"]),
                                       {"reason": "The customer's change board withdrew approval"})

    assert answer.status_code == 302 and fresh(run).state == RunState.ABORTED
    deliver_outbox(inbox)
    aborted = _mails(inbox, "Your upgrade was aborted")
    assert _to(aborted) == {LEAD: 1, APPLICATION_ADMIN: 1, LOAD_BALANCER_ADMIN: 1, ENGINEER: 1}
    by_person = {message["To"].lower(): mail_text(message) for message in aborted}
    finished_at = fresh(run).finished_at
    assert (f"{engineer.full_name} aborted the upgrade at {_clock(finished_at, NEW_YORK)}"
            in by_person[LOAD_BALANCER_ADMIN])
    assert f"aborted the upgrade at {_clock(finished_at, 'Europe/London')}" in by_person[LEAD]
    for text in by_person.values():
        assert "The customer's change board withdrew approval" in text
        assert f"1 of {run.steps.count()} steps were done, the last “{first.action}”." in text
        assert settings.SITE_URL.rstrip("/") + reverse("request-detail", args=[run.request.pk]) in text
    assert not _mails(inbox, "Your upgrade is complete") and not _mails(inbox, "rolled back")
