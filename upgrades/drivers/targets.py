"""From server rows to driver targets: the one place drivers' inputs are read from the database."""

from portal.models import Deployment, Server
from upgrades.drivers.base import Target
from upgrades.models import CommandTemplates


def targets_of(servers: list[Server]) -> list[Target]:
    """Targets for `servers` (rows of any deployments), with their deployments' SSH commands and
    load balancer (the service address, when the balancer's health checks decide its pool)."""
    deployment_ids = {server.deployment_id for server in servers}
    commands = {row.deployment_id: row.as_commands()
                for row in CommandTemplates.objects.filter(deployment_id__in=deployment_ids)}
    balancers = {deployment.pk: deployment.service_url
                 for deployment in Deployment.objects.filter(pk__in=deployment_ids, health_checks=True)
                 .exclude(load_balancer_vendor="").only("pk", "service_url")}
    return [
        Target(
            hostname=server.hostname, role=server.role, driver=server.driver, address=server.address,
            port=server.port, username=server.username, secret_token=server.secret_token,
            host_key=server.host_key, commands=commands.get(server.deployment_id, {}),
            balancer=balancers.get(server.deployment_id, ""),
        )
        for server in servers
    ]
