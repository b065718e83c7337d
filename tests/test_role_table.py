"""The role rules are one table (portal.access.RULES). This walks it: for every move, every contact
role and every staff role, the service that makes the move refuses exactly the people the table
does not name, and lets the others through to its own checks of state."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from portal import access, invitations, webhook_endpoints
from portal import services as portal_services
from portal.choices import ContactRole, Role
from portal.models import Contact
from portal.workflow import WorkflowError
from tests.factories import (
    AdminUserFactory, ContactFactory, CustomerUserFactory, DeploymentFactory, EngineerUserFactory,
    OrganisationFactory, RunFactory, SupportUserFactory, UpgradeRequestFactory,
)
from tests.factories.scheduling import MaintenanceWindowFactory
from scheduling.services import booking, links, status, windows
from scheduling.services.booking import SlotTaken
from upgrades.choices import ReadinessKind, RequestState, RollbackMethod, StepState
from upgrades.models import RollbackDecision, Run, Step, UpgradeRequest
from upgrades.procedure import Performer, StepKind
from upgrades.runflow import RunError
from upgrades.services import checklist, conversation, decisions, preflight, readiness, requests, rollback, runs
from upgrades.services.checklist import checklist_refresh

pytestmark = pytest.mark.django_db


class Undo(Exception):
    """Raised to roll a move back, so that each person meets the same state."""


@dataclass
class Person:
    label: str
    user: object
    staff_role: str = ""
    contact_role: str = ""  # "" for staff; "other" for a lead of another organisation
    assigned: bool = False


@pytest.fixture
def world():
    organisation = OrganisationFactory()
    deployment = DeploymentFactory(organisation=organisation, server_platform="virtual", server_groups=2)
    engineer = EngineerUserFactory()
    window = MaintenanceWindowFactory(request__deployment=deployment, engineer=engineer)
    run = RunFactory(window=window)
    # Requests of the organisation's other deployments: one a draft, one in support's review.
    draft = UpgradeRequestFactory(deployment=DeploymentFactory(organisation=organisation))
    checklist_refresh(upgrade=draft)
    UpgradeRequestFactory(in_review=True, deployment=DeploymentFactory(organisation=organisation))
    # The contact the contact moves are about: someone else, not a lead (one lead stays).
    subject = ContactFactory(organisation=organisation, roles=[ContactRole.NETWORK_ADMIN])
    people = [
        Person(f"customer {role}", CustomerUserFactory(contact__organisation=organisation, contact__roles=[role]),
               contact_role=role)
        for role in ContactRole.values
    ]
    people += [
        Person("lead of another organisation", CustomerUserFactory(contact__roles=[ContactRole.LEAD]),
               contact_role="other"),
        Person("support", SupportUserFactory(), staff_role=Role.SUPPORT),
        Person("administrator", AdminUserFactory(), staff_role=Role.ADMIN),
        Person("the run's engineer", engineer, staff_role=Role.ENGINEER, assigned=True),
        Person("another engineer", EngineerUserFactory(), staff_role=Role.ENGINEER),
    ]
    return run, subject, people


def expected(rule: access.Rule, person: Person) -> bool:
    """What the table says, read plainly."""
    if person.contact_role == "other":
        return False
    if person.contact_role:
        return person.contact_role in rule.contacts or "*" in rule.contacts
    if person.staff_role not in rule.staff:
        return False
    return not (rule.assigned and person.staff_role == Role.ENGINEER and not person.assigned)


def _waiting_checks(run):
    """A functionality test waiting for the engineer and the customer's administrator."""
    step = run.steps.filter(kind=StepKind.CHECKS, performer=Performer.ENGINEER_AND_ADMIN).first()
    Step.objects.filter(pk=step.pk).update(state=StepState.WAITING)
    step.refresh_from_db()
    return step


def _rollback_waiting(run):
    return RollbackDecision.objects.create(run=run, method=RollbackMethod.values[0], reason="Tests failed",
                                           requested_by=run.window.engineer)


def _draft(run):
    return UpgradeRequest.objects.get(deployment__organisation=run.deployment.organisation, state=RequestState.DRAFT)


def _in_review(run):
    return UpgradeRequest.objects.get(deployment__organisation=run.deployment.organisation, state=RequestState.IN_REVIEW)


def _later(days: int):
    return timezone.now().replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=days)


# Each move made through its service, as the page and the API make it.
MOVES = {
    "request.create": lambda run, subject, by: requests.request_create(
        deployment=run.deployment, release=run.request.release, by=by),
    "request.withdraw": lambda run, subject, by: requests.request_withdraw(upgrade=_draft(run), by=by, reason="Later"),
    "request.review": lambda run, subject, by: requests.request_assign(upgrade=_in_review(run), by=by),
    "request.record_check": lambda run, subject, by: requests.request_record_check(
        upgrade=_in_review(run), by=by, outcome="passed"),
    "request.preflight": lambda run, subject, by: preflight.preflight_request(upgrade=_draft(run), by=by),
    "checklist.provide": lambda run, subject, by: checklist.item_provide(
        item=_draft(run).items.first(), by=by, text="Done"),
    "link.manage": lambda run, subject, by: links.link_issue(upgrade=run.request, by=by),
    "window.book": lambda run, subject, by: booking.slot_book(upgrade=run.request, start=_later(9), by=by),
    "window.change": lambda run, subject, by: windows.window_cancel(window=run.window, by=by, reason="Exams"),
    "window.confirm": lambda run, subject, by: windows.window_confirm(window=run.window, by=by),
    "check.book": lambda run, subject, by: booking.check_book(
        upgrade=_in_review(run), start=_later(8), engineer_ids=[run.window.engineer_id], by=by),
    "contact.edit": lambda run, subject, by: portal_services.contact_update(contact=subject, by=by, phone="+44 1"),
    "contact.grant_roles": lambda run, subject, by: portal_services.contact_update(
        contact=subject, by=by, roles=[ContactRole.NETWORK_ADMIN, ContactRole.DATABASE_ADMIN]),
    "contact.remove": lambda run, subject, by: portal_services.contact_delete(contact=subject, by=by),
    "contact.invite": lambda run, subject, by: invitations.contact_invite(contact=subject, by=by),
    "status_page.manage": lambda run, subject, by: status.status_page_save(
        deployment=run.deployment, by=by, service_name="AppsAnywhere", enabled=True),
    "webhook.manage": lambda run, subject, by: webhook_endpoints.webhook_endpoint_add(
        organisation=run.deployment.organisation, by=by, name="Service desk", kind="signed",
        url="https://hooks.example.com/portal", events=["run.started"]),
    "run.snapshots": lambda run, subject, by: readiness.readiness_confirm(run=run, kind=ReadinessKind.SNAPSHOTS, by=by),
    "run.backup": lambda run, subject, by: readiness.readiness_confirm(run=run, kind=ReadinessKind.BACKUP, by=by),
    "run.preflight": lambda run, subject, by: readiness.preflight_request(run=run, by=by),
    "run.start": lambda run, subject, by: runs.run_start(run=run, by=by),
    "run.continue": lambda run, subject, by: runs.run_continue(run=run, by=by),
    "run.confirm_as_engineer": lambda run, subject, by: runs.step_confirm(step=_waiting_checks(run), by=by),
    "run.confirm_as_customer": lambda run, subject, by: runs.step_confirm(step=_waiting_checks(run), by=by),
    "run.take_failure": lambda run, subject, by: decisions.failure_take(run=run, by=by),
    "run.take_over": lambda run, subject, by: decisions.run_take_over(run=run, by=by, reason="End of my shift"),
    "run.abort": lambda run, subject, by: decisions.run_abort(run=run, by=by, reason="Called off"),
    "run.sign_off": lambda run, subject, by: runs.run_sign_off(run=run, by=by, name=by.full_name),
    "run.decide_rollback": lambda run, subject, by: rollback.rollback_decide(
        decision=_rollback_waiting(run), by=by, authorise=False, reason="Not now"),
    "conversation.write": lambda run, subject, by: conversation.message_post(
        upgrade=run.request, run=run, by=by, body="Starting group 2 now"),
    "conversation.note_internal": lambda run, subject, by: conversation.message_post(
        upgrade=run.request, by=by, body="The LB admin is slow to answer", internal=True),
    "conversation.note_public": lambda run, subject, by: conversation.message_post(
        upgrade=run.request, run=run, by=by, body="Group 1 is done: the service is back", public=True),
}

# A step both may confirm is confirmed by whichever side the person is on.
SIDES = {"run.confirm_as_engineer": "run.confirm_as_customer", "run.confirm_as_customer": "run.confirm_as_engineer"}


def test_every_move_of_the_table_is_made_somewhere():
    assert set(MOVES) == set(access.RULES)


@pytest.mark.parametrize("move", sorted(access.RULES))
def test_the_service_refuses_exactly_whom_the_table_does_not_name(world, move):
    run, subject, people = world
    run_pk, subject_pk = run.pk, subject.pk
    wrong = []
    for person in people:
        # A move undone leaves the rows as they were, not the objects: each person reads them anew.
        run, subject = Run.objects.get(pk=run_pk), Contact.objects.get(pk=subject_pk)
        allowed = expected(access.RULES[move], person)
        if move in SIDES:
            allowed = allowed or expected(access.RULES[SIDES[move]], person)
        try:
            with transaction.atomic():
                MOVES[move](run, subject, person.user)
                raise Undo
        except PermissionDenied:
            refused = True
        except (Undo, RunError, WorkflowError, ValidationError, SlotTaken):  # past the role check
            refused = False
        if refused == allowed:
            wrong.append(f"{person.label}: {'refused' if refused else 'let through'}")
    assert not wrong, f"{move}: " + "; ".join(wrong)


def test_the_side_a_confirmation_counts_for_follows_the_role(world):
    run, subject, people = world
    by_label = {person.label: person.user for person in people}
    step = _waiting_checks(run)
    runs.step_confirm(step=step, by=by_label[f"customer {ContactRole.APPLICATION_ADMIN}"])
    runs.step_confirm(step=step, by=by_label["the run's engineer"])
    step.refresh_from_db()
    assert step.confirmed_by_customer == by_label[f"customer {ContactRole.APPLICATION_ADMIN}"]
    assert step.confirmed_by_engineer == by_label["the run's engineer"]
    assert step.state == StepState.SUCCEEDED


def test_a_run_taken_over_is_driven_by_who_took_it(world):
    run, subject, people = world
    by_label = {person.label: person.user for person in people}
    newcomer, assigned = by_label["another engineer"], by_label["the run's engineer"]
    with pytest.raises(PermissionDenied):
        decisions.failure_take(run=run, by=newcomer)
    decisions.run_take_over(run=run, by=newcomer, reason="Handing over at the end of the shift")
    run.refresh_from_db()
    assert run.driven_by == newcomer
    assert run.live_events.filter(kind="decision", data__decision="take_over", actor=newcomer).exists()
    # The engineer who handed it over no longer drives it.
    with pytest.raises(PermissionDenied):
        runs.run_continue(run=run, by=assigned)
