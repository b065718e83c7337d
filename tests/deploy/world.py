"""The starting point of the several-host story, written on the deployment's own database:
`python -m tests.deploy.world LAB_PORT` on one of its hosts (settings from the environment).

The demo world; a Northwind deployment of two groups whose servers are the lab fleet's, on the
lab's host (settings.LAB_ADDRESS); an approved major upgrade with its window confirmed and open
now, and the run planned for it, its snapshots and backup recorded. It prints one JSON line: the
run's id, and an API key each for the engineer, the customer's administrator and the lead.
`python -m tests.deploy.world planned RUN` prints the operations the run asks of each server.
"""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def main(lab_port: int) -> None:
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from portal.models import Contact, Organisation, Server, User
    from portal.services import token_create
    from portal import demo
    from scheduling import demo as scheduling_demo
    from tests.factories import CustomerUserFactory, DeploymentFactory, MaintenanceWindowFactory
    from upgrades.choices import ReadinessKind
    from upgrades.models import Release
    from upgrades.services.plans import run_create
    from upgrades.services.readiness import readiness_confirm, readiness_needed

    scheduling_demo.seed_world()
    northwind = Organisation.objects.get(slug="northwind")
    engineer = User.objects.get(email="engineer@vendor.example")
    lead = User.objects.get(email="lead@northwind.example")
    administrator = CustomerUserFactory(
        contact=Contact.objects.get(organisation=northwind, email="rahul.mehta@northwind.example"),
        password=demo.PASSWORD)

    lab = settings.LAB_ADDRESS
    deployment = DeploymentFactory(
        organisation=northwind, name="Two hosts away", load_balancer_model="BIG-IP", health_checks=True,
        service_url=f"http://{lab}:{lab_port}", cloudpaging_version="9.4.2", openjdk_version="17.0.10",
        tomcat_version="9.0.85", server_groups=2, server_groups__servers__port=1,
    )
    for offset, server in enumerate(deployment.servers.order_by("pk"), start=1):
        Server.objects.filter(pk=server.pk).update(address=lab, port=lab_port + offset)

    window = MaintenanceWindowFactory(
        request__deployment=deployment, request__release=Release.objects.get(version="9.5.0"),
        request__requested_by=lead, engineer=engineer, start=timezone.now() - timedelta(minutes=1),
    )
    run = run_create(window=window)
    needed = readiness_needed(run)
    if ReadinessKind.SNAPSHOTS in needed:
        readiness_confirm(run=run, kind=ReadinessKind.SNAPSHOTS, by=lead, note="Snapshots in vCenter")
    if ReadinessKind.BACKUP in needed:
        readiness_confirm(run=run, kind=ReadinessKind.BACKUP, by=engineer, note="streamdb-full.bak on the share")
    keys = {who: token_create(by=user, name="The several-host story")[1]
            for who, user in (("engineer", engineer), ("administrator", administrator), ("lead", lead))}
    print(json.dumps({"run": run.pk, "keys": keys, "lead": lead.email, "lead_name": lead.full_name,
                      "password": demo.PASSWORD}))


def planned(run_id: int) -> None:
    """How many times the run's steps ask each lab server for each operation, as JSON."""
    import django

    django.setup()
    from tests.upgrades.runs import planned_operations
    from upgrades.models import Run

    counts = planned_operations(Run.objects.get(pk=run_id))
    print(json.dumps([[hostname, operation, count] for (hostname, operation), count in sorted(counts.items())]))


if __name__ == "__main__":
    if sys.argv[1] == "planned":
        planned(int(sys.argv[2]))
    else:
        main(int(sys.argv[1]))
