"""From server rows to driver targets: the one place drivers' inputs are read from the database."""

from portal.models import Deployment, Server
from upgrades.drivers.base import Target


def targets_of(servers: list[Server]) -> list[Target]:
    """Targets for `servers` (rows of any deployments), with their deployments' SSH commands and
    load balancer (the service address, when the balancer's health checks decide its pool)."""
    deployments = (Deployment.objects.filter(pk__in={server.deployment_id for server in servers})
                   .select_related("command_templates").order_by()
                   .only("pk", "service_url", "health_checks", "load_balancer_vendor", "command_templates"))
    commands, balancers = {}, {}
    for deployment in deployments:
        templates = getattr(deployment, "command_templates", None)  # a deployment may have none
        commands[deployment.pk] = templates.as_commands() if templates is not None else {}
        if deployment.health_checks and deployment.load_balancer_vendor:
            balancers[deployment.pk] = deployment.service_url
    return [
        Target(
            hostname=server.hostname, role=server.role, driver=server.driver, address=server.address,
            port=server.port, username=server.username, secret_token=server.secret_token,
            host_key=server.host_key, commands=commands.get(server.deployment_id, {}),
            balancer=balancers.get(server.deployment_id, ""),
        )
        for server in servers
    ]
