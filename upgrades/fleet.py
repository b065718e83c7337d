"""The portal's side of the lab fleet: which registered deployments it simulates, and how the
portal reaches a deployment's lab (its load balancer's port, where the lab's API also answers)."""

from urllib.parse import urlsplit

from django.conf import settings

from portal.choices import Driver
from portal.health import listening
from portal.models import Deployment
from upgrades.lab.control import LabControl
from upgrades.lab.model import COMPONENTS, DeploymentSpec, ServerSpec

LOOPBACK = {"127.0.0.1", "localhost"}


def lab_addresses() -> set[str]:
    """Where lab servers answer: loopback, and the lab's own host where it runs on one
    (settings.LAB_ADDRESS, for a deployment spread over several machines)."""
    return LOOPBACK | {settings.LAB_ADDRESS}


def lab_key(deployment: Deployment) -> str:
    return f"deployment-{deployment.pk}"


def _loopback_port(url: str) -> int | None:
    parts = urlsplit(url)
    return parts.port if parts.hostname in lab_addresses() and parts.port else None


def is_lab(deployment: Deployment) -> bool:
    """A deployment is simulated when its service address is a port of the lab (its load balancer)."""
    return _loopback_port(deployment.service_url) is not None


def lab_specs(*, deployment_ids: list[int] | None = None, **timing) -> list[DeploymentSpec]:
    """Specs of the deployments whose servers use the lab driver on the lab's ports. `timing` sets
    DeploymentSpec's check_interval, check_timeout, rise, fall and op_seconds."""
    deployments = Deployment.objects.filter(servers__driver=Driver.LAB).distinct().prefetch_related("servers")
    if deployment_ids:
        deployments = deployments.filter(pk__in=deployment_ids)
    specs = []
    for deployment in deployments.order_by("pk"):
        lb_port = _loopback_port(deployment.service_url)
        servers = [
            ServerSpec(hostname=server.hostname, role=server.role, port=server.port)
            for server in deployment.servers.all()
            if server.driver == Driver.LAB and server.address in lab_addresses() and server.port
        ]
        if lb_port is None or not servers:
            continue
        versions = {name: getattr(deployment, f"{name}_version") for name in COMPONENTS}
        specs.append(DeploymentSpec(
            key=lab_key(deployment), servers=servers, versions=versions, lb_port=lb_port,
            health_checks=deployment.has_load_balancer and deployment.health_checks,
            host=urlsplit(deployment.service_url).hostname.replace("localhost", "127.0.0.1"), **timing,
        ))
    return specs


def lab_control_of(deployment: Deployment) -> LabControl | None:
    return LabControl(deployment.service_url) if is_lab(deployment) else None


def lab_listening() -> str:
    """/healthz's "lab" part: "ok" once the lab fleet listens on every port of every lab deployment
    (its load balancer and its servers), else which do not yet."""
    silent = []
    for spec in lab_specs():
        ports = [spec.lb_port, *(server.port for server in spec.servers)]
        closed = [str(port) for port in ports if not listening(port, spec.host)]
        if closed:
            silent.append(f"{spec.key} (ports {', '.join(closed)})")
    return "ok" if not silent else f"the lab fleet does not listen yet for {'; '.join(silent)}"
