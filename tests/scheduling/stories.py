"""What the scheduling tests build again and again: approved requests, more deployments, and
a race of callers released at the same moment."""

import threading

from django.db import connection

from portal.models import Deployment, Organisation, Server, User
from upgrades.choices import RequestState
from upgrades.models import Release, UpgradeRequest


def approve(deployment: Deployment, *, by: User, release: Release) -> UpgradeRequest:
    """An approved request, made directly: the approval path has tests of its own."""
    return UpgradeRequest.objects.create(
        deployment=deployment, release=release, from_version=deployment.cloudpaging_version, kind=release.kind,
        requested_by=by, state=RequestState.APPROVED,
    )


def more_deployments(organisation: Organisation, count: int) -> list[Deployment]:
    """Deployments of one group each (two lab servers), load-balanced with health checks."""
    deployments = []
    for number in range(count):
        deployment = Deployment.objects.create(
            organisation=organisation, name=f"Campus {number}", cloudpaging_version="9.4.2",
            openjdk_version="17.0.10", tomcat_version="9.0.85", load_balancer_vendor="F5", health_checks=True,
        )
        for role in ("admin_license", "stream"):
            Server.objects.create(deployment=deployment, role=role, hostname=f"{role}-{number}", address="127.0.0.1",
                                  driver="lab")
        deployments.append(deployment)
    return deployments


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
