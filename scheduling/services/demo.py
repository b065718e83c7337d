"""Re-arming `make run`'s live upgrade demo: an administrator's explicit choice (a button on the
demo deployment's lab fleet page, or `manage.py demo --rearm`), never a side effect of a start."""

import logging
from dataclasses import dataclass
from pathlib import Path

import pghistory
from django.core.exceptions import PermissionDenied
from django.db import transaction

from portal import access
from portal.embedded import data_dir
from portal.models import User
from scheduling import demo
from upgrades.fleet import lab_control_of, lab_key
from upgrades.lab.control import LabError
from upgrades.models import Run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rearmed:
    run: Run | None  # None: no engineer was free for today's window
    lab: str  # what became of the lab fleet's servers, in words


def demo_rearm(*, by: User | None, lab_dir: Path | None = None) -> Rearmed:
    """Put the demo back at its start (`scheduling.demo.rearm_live_upgrade`) in one transaction,
    recorded in the audit trail as `by`'s (None: from the command line), then reset the lab
    fleet's servers to the deployment's versions. WorkflowError while the demo's run is under way."""
    if by is not None and not access.may_rearm_demo(by):
        raise PermissionDenied
    audit = {"user": by.pk} if by is not None else {}
    with transaction.atomic(), pghistory.context(source="demo_rearm", **audit):
        run = demo.rearm_live_upgrade()
    deployment = demo.live_demo_deployment()
    return Rearmed(run=run, lab=_lab_reset(deployment, lab_dir or data_dir() / "lab"))


def _lab_reset(deployment, lab_dir: Path) -> str:
    """The running lab fleet resets its servers at once; a fleet not running starts them afresh."""
    versions = {name: getattr(deployment, f"{name}_version") for name in demo.LIVE_DEMO_VERSIONS}
    try:
        lab_control_of(deployment).reset(versions, deployment=lab_key(deployment))
    except LabError as error:
        logger.info("demo re-armed; the lab fleet did not reset: %s", error)
        demo.forget_lab_state(deployment, lab_dir)
        return f"The lab fleet did not answer: its servers start on {versions['cloudpaging']} when it starts."
    return f"The lab fleet's servers are back on {versions['cloudpaging']}."
