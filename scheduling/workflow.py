"""The states of a maintenance window and the moves between them, in one table (S3, S7).

    (book, standard)      --> confirmed
    (book, out of hours)  --> requested --confirm (support: staff available)--> confirmed
    (cloud planner)       --> proposed  --confirm (support, >= 14 days ahead)--> confirmed
    proposed | requested | confirmed --reschedule--> (state by the new time's cover)
    proposed | requested | confirmed --cancel--> cancelled
    confirmed --complete (its run ended)--> completed

Every move is a guarded UPDATE (`filter(pk=..., state__in=sources)`): a count other than 1
means somebody moved the window first, and nothing changes.
"""

from portal.workflow import Move
from scheduling.choices import WindowState as S

MOVES: dict[str, Move] = {
    "confirm": Move(frozenset({S.PROPOSED, S.REQUESTED}), S.CONFIRMED, "confirmed"),
    # The state the window keeps or reaches depends on the new time's cover (S7).
    "reschedule": Move(frozenset({S.PROPOSED, S.REQUESTED, S.CONFIRMED}), label="rescheduled"),
    "cancel": Move(frozenset({S.PROPOSED, S.REQUESTED, S.CONFIRMED}), S.CANCELLED, "cancelled"),
    "complete": Move(frozenset({S.CONFIRMED}), S.COMPLETED, "completed"),
}


def allowed(move: str, state: str) -> bool:
    return state in MOVES[move].sources
