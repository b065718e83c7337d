"""The states of a run and of its steps, and the moves between them, in one table each (S13-S17).

Run:
    scheduled --start--> running
    running --pause (a step failed or was interrupted)--> paused
    paused --resume (retry, fixed, skipped, rollback started)--> running
    running --complete (signed off)--> completed
    running --roll back done--> rolled_back
    running | paused --abort--> aborted
    (a scheduled run has nothing to abort: it goes with its window's cancellation)

Step:
    pending --claim--> running --succeed--> succeeded
    running --wait (people confirm)--> waiting --confirm--> succeeded
    running | waiting --fail--> failed
    running --sweep (stale heartbeat)--> interrupted
    failed | interrupted --retry--> pending
    failed | interrupted --mark fixed--> succeeded
    pending | failed | interrupted --skip--> skipped

Every move is a guarded UPDATE (`filter(pk=..., state__in=sources)`); a count other than 1 means
someone else moved first, and nothing changes.
"""

from portal.workflow import Move
from upgrades.choices import RunState as R
from upgrades.choices import StepState as S

RUN_MOVES: dict[str, Move] = {
    "start": Move(frozenset({R.SCHEDULED}), R.RUNNING),
    "pause": Move(frozenset({R.RUNNING}), R.PAUSED),
    "resume": Move(frozenset({R.PAUSED}), R.RUNNING),
    "complete": Move(frozenset({R.RUNNING}), R.COMPLETED),
    "rolled_back": Move(frozenset({R.RUNNING}), R.ROLLED_BACK),
    "abort": Move(frozenset({R.RUNNING, R.PAUSED}), R.ABORTED),
}

STEP_MOVES: dict[str, Move] = {
    "claim": Move(frozenset({S.PENDING}), S.RUNNING),
    "succeed": Move(frozenset({S.RUNNING}), S.SUCCEEDED),
    "wait": Move(frozenset({S.RUNNING}), S.WAITING),
    "confirm": Move(frozenset({S.WAITING}), S.SUCCEEDED),
    "fail": Move(frozenset({S.RUNNING, S.WAITING}), S.FAILED),
    "interrupt": Move(frozenset({S.RUNNING}), S.INTERRUPTED),
    "retry": Move(frozenset({S.FAILED, S.INTERRUPTED}), S.PENDING),
    "mark_fixed": Move(frozenset({S.FAILED, S.INTERRUPTED}), S.SUCCEEDED),
    "skip": Move(frozenset({S.PENDING, S.FAILED, S.INTERRUPTED}), S.SKIPPED),
}

# A run in these states is over: nothing moves any more.
FINISHED_RUN_STATES = frozenset({R.COMPLETED, R.ROLLED_BACK, R.ABORTED})
# Steps in these states let the run go on to the next one.
DONE_STEP_STATES = frozenset({S.SUCCEEDED, S.SKIPPED})


class RunError(Exception):
    """A move that is not allowed now, or that someone else made first. Nothing changed."""
