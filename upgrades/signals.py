"""What upgrades announce to the apps above them (scheduling imports upgrades, never the other way).

Sent inside the transaction of the move, so a receiver's writes commit or roll back with it.
"""

from django.dispatch import Signal

# A run has started; kwargs: run.
run_started = Signal()
# A run has ended (completed, rolled back or aborted) and its request is closed; kwargs: run.
run_ended = Signal()
# A run has paused (a step failed or was interrupted); kwargs: run, reason (the run's words), and
# event (the number of the run's live event that says so, one per pause).
run_paused = Signal()
