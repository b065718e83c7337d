"""What the scheduling tests build again and again: approved requests, more deployments, and
a race of callers released at the same moment."""

import threading

from django.db import connection

from portal.models import Deployment, Organisation, User
from tests.factories import DeploymentFactory, UpgradeRequestFactory
from upgrades.models import Release, UpgradeRequest


def approve(deployment: Deployment, *, by: User, release: Release) -> UpgradeRequest:
    """An approved request, made directly: the approval path has tests of its own."""
    return UpgradeRequestFactory(approved=True, deployment=deployment, release=release, requested_by=by)


def more_deployments(organisation: Organisation, count: int) -> list[Deployment]:
    """Deployments of one group each (two lab servers), load-balanced with health checks."""
    return DeploymentFactory.create_batch(count, organisation=organisation, server_groups=1)


def race(targets, *, timeout: float = 120) -> list:
    """Run every target at the same moment, each in a thread with its own connection; each
    result is what its target returned or raised."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def run(index, target):
        try:
            barrier.wait()
            results[index] = target()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test reads
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, target)) for index, target in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
