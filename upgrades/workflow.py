"""The states of an upgrade request and the moves between them, in one table (S2, S8, S10).

    draft --submit--> submitted --assign--> in review --schedule check--> check scheduled
    check scheduled --approve (every required item accepted, check passed)--> approved
    check scheduled --check failed--> in review
    submitted | in review | check scheduled --refuse--> refused
    any open state --withdraw--> withdrawn
    refused | withdrawn | approved --reopen--> in review
    approved --complete (the run signed off)--> completed
    approved --roll back (the run rolled back)--> rolled back
    approved --abort (the run aborted)--> aborted

The last three follow the run (upgrades.services.lifecycle) and end the request: nothing moves
after them, and the deployment may be requested again.
"""

from django.core.exceptions import PermissionDenied, ValidationError

from portal import access
from portal.models import User
from portal.workflow import Move, WorkflowError
from upgrades.choices import ItemState as I
from upgrades.choices import RequestState as S

__all__ = ["EDITABLE_STATES", "ITEM_MOVES", "MOVES", "REVIEWABLE_STATES", "WorkflowError", "allowed", "require_desk"]

MOVES: dict[str, Move] = {
    "submit": Move(frozenset({S.DRAFT}), S.SUBMITTED, "submit"),
    "start_review": Move(frozenset({S.SUBMITTED}), S.IN_REVIEW, "start the review of"),
    "schedule_check": Move(frozenset({S.IN_REVIEW, S.CHECK_SCHEDULED}), S.CHECK_SCHEDULED, "schedule the check of"),
    "check_failed": Move(frozenset({S.CHECK_SCHEDULED}), S.IN_REVIEW, "record a failed check on"),
    "approve": Move(frozenset({S.CHECK_SCHEDULED}), S.APPROVED, "approve"),
    "refuse": Move(frozenset({S.SUBMITTED, S.IN_REVIEW, S.CHECK_SCHEDULED}), S.REFUSED, "refuse"),
    "withdraw": Move(
        frozenset({S.DRAFT, S.SUBMITTED, S.IN_REVIEW, S.CHECK_SCHEDULED, S.APPROVED}), S.WITHDRAWN, "withdraw"
    ),
    "reopen": Move(frozenset({S.REFUSED, S.WITHDRAWN, S.APPROVED}), S.IN_REVIEW, "reopen"),
    "complete": Move(frozenset({S.APPROVED}), S.COMPLETED, "complete"),
    "roll_back": Move(frozenset({S.APPROVED}), S.ROLLED_BACK, "close as rolled back"),
    "abort": Move(frozenset({S.APPROVED}), S.ABORTED, "close as aborted"),
}

# While a request is in these states the customer may still fill in the checklist.
EDITABLE_STATES = frozenset({S.DRAFT, S.SUBMITTED, S.IN_REVIEW, S.CHECK_SCHEDULED})
# Support reviews items in these states.
REVIEWABLE_STATES = frozenset({S.SUBMITTED, S.IN_REVIEW, S.CHECK_SCHEDULED})

# A checklist item's moves (upgrades.services.checklist): the customer provides evidence, and
# changing an accepted item sends it to review again; support accepts what is provided, or sends
# an item back saying what is missing.
ITEM_MOVES: dict[str, Move] = {
    "provide": Move(frozenset({I.MISSING, I.PROVIDED, I.ACCEPTED, I.SENT_BACK}), I.PROVIDED, "provided"),
    "accept": Move(frozenset({I.PROVIDED}), I.ACCEPTED, "accepted"),
    "send_back": Move(frozenset({I.MISSING, I.PROVIDED, I.ACCEPTED}), I.SENT_BACK, "sent back"),
}


def allowed(move: str, state: str) -> bool:
    return state in MOVES[move].sources


# How the request's timeline words each logged action.
ACTION_LABELS = {
    "create": "started the request",
    "submit": "submitted it to support",
    "assign": "took the request",
    "start_review": "started the review",
    "schedule_check": "scheduled the prerequisite check",
    "check_passed": "recorded a passed check",
    "check_failed": "recorded a failed check",
    "approve": "approved the upgrade",
    "refuse": "refused the request",
    "withdraw": "withdrew the request",
    "reopen": "reopened the request",
    "item_provided": "updated",
    "item_accepted": "accepted",
    "item_sent_back": "sent back",
    "preflight_requested": "asked for a preflight",
    "preflight": "preflight finished:",
    "link_issued": "issued the scheduling link",
    "link_opened": "opened the scheduling link",
    "link_revoked": "revoked the scheduling link",
    "window_booked": "booked the maintenance window:",
    "window_confirmed": "confirmed the maintenance window:",
    "window_rescheduled": "rescheduled the maintenance window:",
    "window_cancelled": "cancelled the maintenance window:",
    "cloud_planned": "planned the cloud upgrade",
    "run_started": "started the upgrade",
    "complete": "signed the upgrade off: completed",
    "roll_back": "closed the upgrade: rolled back",
    "abort": "closed the upgrade: aborted",
}


def require_desk(user: User, request, *, assigned: bool = True) -> None:
    """Support acts on a request only once it is theirs, so two people never work one request."""
    if not access.may(user, "request.review", organisation_id=request.deployment.organisation_id):
        raise PermissionDenied
    if assigned and request.assignee_id != user.pk:
        if request.assignee_id is None:
            raise WorkflowError("Assign the request to yourself first.")
        raise WorkflowError(f"{request.assignee.full_name} is working on this request.")


def require_reason(reason: str, why: str) -> None:
    """A move that others read about needs its reason: `why` says what the reason is for."""
    if not reason.strip():
        raise ValidationError({"reason": why})
