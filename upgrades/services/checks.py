"""Recording S12's functionality tests: the automatic ones as they ran, the manual ones as a
person confirmed them."""

import time
import uuid
from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.db import transaction

from portal import access
from portal.models import Deployment, User
from upgrades.checks import CheckOutcome, automatic_checks
from upgrades.choices import MANUAL_CHECKS
from upgrades.models import CheckResult


# Between two rounds of checks while the load balancer takes in a new state.
SETTLE_PAUSE = 1.0


def checks_run(*, deployment: Deployment, expected_version: str, stage: str = "",
               round: uuid.UUID | None = None, settle_seconds: float = 0.0,
               failing: Callable[[CheckOutcome], bool] = lambda outcome: not outcome.passed,
               on_retry: Callable[[list[CheckOutcome], list[CheckOutcome]], bool] | None = None,
               ) -> list[CheckResult]:
    """Run the automatic checks through the deployment's service address and record them.

    Right after servers start or stop, the load balancer may still send users to a stopped server
    and not yet to a started one: it learns of both from its health checks, a few seconds apart.
    With `settle_seconds`, a round in which a check is `failing` runs again a second later, until
    none fails or the time is spent; `on_retry` hears of each failing round first (its outcomes,
    and those failing) and answers whether to go on. The last round is the one recorded."""
    deadline = time.monotonic() + settle_seconds
    while True:
        outcomes = automatic_checks(service_url=deployment.service_url, expected_version=expected_version)
        failed = [outcome for outcome in outcomes if failing(outcome)]
        if not failed or time.monotonic() + SETTLE_PAUSE > deadline:
            break
        if on_retry is not None and not on_retry(outcomes, failed):
            break
        time.sleep(SETTLE_PAUSE)
    round = round or uuid.uuid4()
    with transaction.atomic():
        return CheckResult.objects.bulk_create([
            CheckResult(deployment=deployment, round=round, stage=stage, kind=outcome.kind, passed=outcome.passed,
                        detail=outcome.detail, duration_ms=outcome.duration_ms)
            for outcome in outcomes
        ])


def check_confirm(*, deployment: Deployment, kind: str, passed: bool, by: User, note: str = "",
                  stage: str = "", round: uuid.UUID | None = None) -> CheckResult:
    """A person's confirmation of a manual check (requirements met, tests via the test machine)."""
    if kind not in MANUAL_CHECKS:
        raise ValueError(f"{kind} is run automatically, not confirmed")
    # The engineer, or the customer's administrator beside them (S12: "engineer / administrator").
    if not (by.is_vendor or access.is_customer_of(by, deployment.organisation_id)):
        raise PermissionDenied
    with transaction.atomic():
        return CheckResult.objects.create(
            deployment=deployment, round=round or uuid.uuid4(), stage=stage, kind=kind, passed=passed,
            detail=note, recorded_by=by,
        )
