"""What a page does with a service's answer: the move is made, or refused with a message and
nothing changed."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError

from portal.workflow import WorkflowError

REFUSALS = (ValidationError, WorkflowError)


def refusal(error: Exception) -> str:
    """A service's refusal in words."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    if isinstance(error, PermissionDenied):
        return str(error) or "That is not yours to do."
    return str(error)


def carry_out(request, move: Callable[[], object], *, done: str | None = None,
              refusals: tuple[type[Exception], ...] = REFUSALS) -> bool:
    """Make `move` and say so on the next page: `done`, or what the move returned; a refusal is
    said instead (ValidationError, WorkflowError unless `refusals` says otherwise)."""
    try:
        answer = move()
    except refusals as error:
        messages.error(request, refusal(error))
        return False
    messages.success(request, answer if done is None else done)
    return True
