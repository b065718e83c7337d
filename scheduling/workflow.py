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

from dataclasses import dataclass

from scheduling.choices import WindowState as S


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    label: str  # as in "it cannot be <label> now"


MOVES: dict[str, Move] = {
    "confirm": Move(frozenset({S.PROPOSED, S.REQUESTED}), "confirmed"),
    "reschedule": Move(frozenset({S.PROPOSED, S.REQUESTED, S.CONFIRMED}), "rescheduled"),
    "cancel": Move(frozenset({S.PROPOSED, S.REQUESTED, S.CONFIRMED}), "cancelled"),
    "complete": Move(frozenset({S.CONFIRMED}), "completed"),
}


def allowed(move: str, state: str) -> bool:
    return state in MOVES[move].sources
