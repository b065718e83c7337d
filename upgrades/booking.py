"""What a request's page and API ask of the calendar: the free slots for the prerequisite check,
booking the check on one of them, and issuing the scheduling link (S2, S8).

Scheduling books engineers' time for upgrades: it imports upgrades, and upgrades never import
it (tests/test_layering.py). `settings.UPGRADE_BOOKING` names the module that answers, as
`EMAIL_BACKEND` names the mail's; it has:

    check_slots(*, upgrade, within: timedelta) -> list[Slot]   (start, engineer_ids)
    check_calendar(*, upgrade, within: timedelta, zone: str, week: int) -> dict
        the same slots as a week grid by `zone`, each with the customer's time and engineers.
    check_book(*, upgrade, start: datetime, by: User, not_free: str) -> None
        WorkflowError(not_free) when no check slot starts then, WorkflowError when taken.
    link_issue(*, upgrade, by: User) -> None
"""

from importlib import import_module

from django.conf import settings


def booking():
    return import_module(settings.UPGRADE_BOOKING)
