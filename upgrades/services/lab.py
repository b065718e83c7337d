"""Breaking a demo deployment's lab fleet on purpose, for demonstrations and manual testing."""

import logging

from django.core.exceptions import PermissionDenied

from portal.models import Deployment, User
from upgrades.fleet import lab_control_of
from upgrades.lab.control import FAULTS, LabError

logger = logging.getLogger(__name__)
CLEAR = "clear"


def lab_fault_inject(*, deployment: Deployment, hostname: str, fault: str, by: User) -> None:
    """Inject `fault` (or `clear`) on one of the deployment's lab servers. Raises LabError when
    the lab fleet is not there or refuses."""
    if not by.is_vendor:
        raise PermissionDenied
    control = lab_control_of(deployment)
    if control is None:
        raise LabError("This deployment is not simulated by the lab fleet.")
    if not deployment.servers.filter(hostname=hostname).exists():
        raise LabError(f"{hostname} is not a server of this deployment.")
    if fault == CLEAR:
        control.clear(hostname)
    elif fault in FAULTS:
        control.inject(hostname, fault, reason=f"injected from the portal by {by.email}")
    else:
        raise LabError(f"No fault is called {fault!r}.")
    # The lab keeps no audit trail of its own: who broke what is in the portal's log.
    logger.info("%s: %s on %s (%s)", by.email, fault, hostname, deployment)
