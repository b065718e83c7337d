"""The factories make rows the database and the services accept, on their own and beside the demo
world."""

from datetime import timedelta

from portal.choices import Role
from scheduling.choices import WindowState
from tests.factories import (
    AdminUserFactory, CustomerUserFactory, DeploymentFactory, EngineerUserFactory, MaintenanceWindowFactory,
    RunFactory, ServerFactory, SupportUserFactory, UpgradeRequestFactory,
)
from upgrades.choices import RequestState, RunState, UpgradeKind


def test_each_role_has_its_user(db):
    customer = CustomerUserFactory()

    assert customer.role == Role.CUSTOMER and customer.email == customer.contact.email
    assert not customer.has_usable_password()
    assert [factory().role for factory in (SupportUserFactory, EngineerUserFactory, AdminUserFactory)] == [
        Role.SUPPORT, Role.ENGINEER, Role.ADMIN,
    ]


def test_a_deployment_has_the_groups_it_asks_for(db):
    deployment = DeploymentFactory(name="North campus", server_groups=2, server_groups__servers__port=9000)

    assert list(deployment.groups.values_list("position", flat=True)) == [1, 2]
    assert sorted(deployment.servers.values_list("hostname", flat=True)) == [
        "cpadmin01.north-campus.example", "cpadmin02.north-campus.example",
        "cpstream01.north-campus.example", "cpstream02.north-campus.example",
    ]
    assert set(deployment.servers.values_list("port", flat=True)) == {9000}
    assert ServerFactory().group is None


def test_a_request_in_review_is_made_by_a_customer_of_its_deployment(world):
    request = UpgradeRequestFactory(in_review=True)

    assert request.state == RequestState.IN_REVIEW and request.assignee.role == Role.SUPPORT
    assert request.requested_by.contact.organisation == request.deployment.organisation
    assert request.kind == UpgradeKind.MAJOR  # 11.n.0 after the demo's 10.1.0


def test_a_window_is_shaped_as_booking_plans_it_and_its_run_is_planned_by_the_service(world):
    deployment = DeploymentFactory(server_groups=2)
    window = MaintenanceWindowFactory(request__deployment=deployment)

    assert window.state == WindowState.CONFIRMED and window.request.state == RequestState.APPROVED
    assert window.end - window.start == timedelta(minutes=15 + 4 * 10)  # preparation, 4 servers at risk
    assert window.downtime is not None  # a major upgrade

    run = RunFactory(window=window, state=RunState.RUNNING, plan_event=False)
    assert run.state == RunState.RUNNING and run.steps.exists()
    assert not run.live_events.exists() and run.next_seq == 1
