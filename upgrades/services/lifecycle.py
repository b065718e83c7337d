"""One upgrade's life across its three tables: the request (upgrades.workflow), its maintenance
window (scheduling.workflow) and the window's run (upgrades.runflow). Each keeps its own moves;
the moves that cross them are called inside the transaction of the move that causes them, so the
three never disagree. The window's side is scheduling's (scheduling.services.lifecycle: a
confirmed window gets its run, a moved one its plan, a cancelled one loses it); the run's side
is here:

1. A run starts: the request's timeline says so (`run_started`), the people of the run are
   mailed (`services.run_notices`), and `upgrades.signals.run_started` is sent (scheduling
   tells the status page's subscribers).
2. A run ends (signed off, rolled back, aborted): the request reaches the matching end state
   and `upgrades.signals.run_ended` is sent, on which scheduling completes the window
   (`run_closed`); every later move of either is refused by its table. A completed or rolled
   back run's people are mailed its report (`services.run_notices`). After a rollback or an
   abort the deployment can be requested again.
"""

from portal.models import User
from upgrades.choices import RunState
from upgrades.models import Run
from upgrades.services import run_notices
from upgrades.services.requests import log as request_log
from upgrades.services.requests import request_close
from upgrades.signals import run_ended, run_started as run_started_signal

UNDER_WAY = (RunState.RUNNING, RunState.PAUSED)
# How each end of a run closes its request (upgrades.workflow's moves).
CLOSING_MOVES = {RunState.COMPLETED: "complete", RunState.ROLLED_BACK: "roll_back", RunState.ABORTED: "abort"}


def run_started(*, run: Run, by: User) -> None:
    request_log(upgrade=run.request, by=by, action="run_started",
                reason=f"{run.from_version} → {run.to_version}")
    run_notices.run_started(run=run)
    run_started_signal.send(sender=Run, run=run)


def run_closed(*, run: Run, by: User | None, reason: str = "") -> None:
    """The run has ended (its state is one of CLOSING_MOVES'): the request ends the same way and
    the window is completed (scheduling hears `run_ended`). Called in the run's closing
    transaction."""
    state = Run.objects.values_list("state", flat=True).get(pk=run.pk)
    request_close(upgrade=run.request, by=by, move=CLOSING_MOVES[state], reason=reason)
    run_notices.run_ended(run=run, by=by, reason=reason)
    run_ended.send(sender=Run, run=run)
