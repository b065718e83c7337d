"""What every state machine of the portal is made of (the request's, the checklist item's, the
window's, the run's and the step's tables: upgrades.workflow, scheduling.workflow,
upgrades.runflow), and the refusal they share."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Move:
    """One move: the states it leaves and the state it reaches (empty when the move decides, as a
    window's reschedule does), and how it is said ("it cannot be <label> now")."""

    sources: frozenset[str]
    target: str = ""
    label: str = ""


class WorkflowError(Exception):
    """A move that is not allowed now, or that another person made first. Nothing changed."""
