"""From server rows to driver targets: the one place drivers' inputs are read from the database."""

from portal.models import Server
from upgrades.drivers.base import Target
from upgrades.models import CommandTemplates


def targets_of(servers: list[Server]) -> list[Target]:
    """Targets for `servers` (rows of any deployments), with their deployments' SSH commands."""
    deployment_ids = {server.deployment_id for server in servers}
    commands = {row.deployment_id: row.as_commands()
                for row in CommandTemplates.objects.filter(deployment_id__in=deployment_ids)}
    return [
        Target(
            hostname=server.hostname, role=server.role, driver=server.driver, address=server.address,
            port=server.port, username=server.username, secret_token=server.secret_token,
            host_key=server.host_key, commands=commands.get(server.deployment_id, {}),
        )
        for server in servers
    ]
