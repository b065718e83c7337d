"""S12's functionality tests: the automatic ones through the load balancer, timed; the manual
ones confirmed by a person."""

import pytest
from django.core.exceptions import PermissionDenied

from tests.conftest import wait_for
from upgrades.choices import FunctionalityCheck
from upgrades.models import CheckResult
from upgrades.services import checks

STREAMS = ("cpstream01.northwind.example", "cpstream02.northwind.example")


def healthy(lab) -> bool:
    return all(member["in_pool"] for member in lab.control.status()["members"])


def test_the_automatic_checks_pass_through_the_load_balancer_each_timed(db, northwind_lab, northwind_deployment):
    wait_for(lambda: healthy(northwind_lab))

    results = checks.checks_run(deployment=northwind_deployment, expected_version="9.4.2", stage="before the upgrade")

    assert [result.kind for result in results] == ["login", "navigation", "launch", "admin_version"]
    assert all(result.passed for result in results), [result.detail for result in results]
    assert all(result.duration_ms > 0 for result in results)
    assert len({result.round for result in results}) == 1
    assert CheckResult.objects.filter(deployment=northwind_deployment, stage="before the upgrade").count() == 4


def test_the_admin_version_check_fails_when_the_version_is_not_the_expected_one(db, northwind_lab, northwind_deployment):
    wait_for(lambda: healthy(northwind_lab))

    results = {result.kind: result for result in checks.checks_run(deployment=northwind_deployment, expected_version="9.5.0")}

    assert not results["admin_version"].passed
    assert results["admin_version"].detail == "the admin interface reports 9.4.2, not 9.5.0"
    assert results["login"].passed


def test_an_application_that_cannot_launch_fails_the_launch_check(db, northwind_lab, northwind_deployment):
    wait_for(lambda: healthy(northwind_lab))
    for hostname in STREAMS:
        northwind_lab.control.inject(hostname, "break_repository")

    results = {result.kind: result for result in checks.checks_run(deployment=northwind_deployment, expected_version="9.4.2")}

    assert not results["launch"].passed and "did not launch" in results["launch"].detail


def test_a_service_that_does_not_answer_fails_every_check_without_hanging(db, northwind_deployment):
    northwind_deployment.service_url = "http://127.0.0.1:9"  # discard port: nothing listens
    results = checks.checks_run(deployment=northwind_deployment, expected_version="9.4.2")

    assert not any(result.passed for result in results)
    assert "no answer from http://127.0.0.1:9" in results[0].detail


def test_an_engineer_confirms_a_manual_check(engineer, northwind_deployment):
    result = checks.check_confirm(deployment=northwind_deployment, kind=FunctionalityCheck.TEST_MACHINE, passed=True,
                                  by=engineer, note="Launched MATLAB from the test machine")

    assert result.recorded_by == engineer and result.duration_ms is None


def test_the_customers_administrator_may_confirm_but_an_outsider_may_not(customer, outsider, northwind_deployment):
    checks.check_confirm(deployment=northwind_deployment, kind=FunctionalityCheck.REQUIREMENTS, passed=True, by=customer)

    with pytest.raises(PermissionDenied):
        checks.check_confirm(deployment=northwind_deployment, kind=FunctionalityCheck.REQUIREMENTS, passed=True, by=outsider)


def test_an_automatic_check_cannot_be_confirmed_by_hand(engineer, northwind_deployment):
    with pytest.raises(ValueError):
        checks.check_confirm(deployment=northwind_deployment, kind=FunctionalityCheck.LOGIN, passed=True, by=engineer)
