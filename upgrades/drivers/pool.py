"""Waiting, within a bound, until servers are in their load balancer's pool (`Operation.POOL`).

A balancer takes a server (back) into its pool only after its health check has passed `rise`
times in a row, `interval` seconds apart. Where the driver asks the balancer (lab), its answer
is the pool. Where it cannot (SSH: it answers with the server's health check), a server counts
as in the pool once it has passed every check for `rise_seconds` (the balancer's rise times its
interval), as the balancer would count it; any failure starts the count again.
"""

import time
from collections.abc import Callable, Sequence

from upgrades.drivers.base import Operation, Target
from upgrades.drivers.group import operate

# Between two questions to the balancer (or two health checks).
PAUSE = 1.0
ASK_TIMEOUT = 5.0

# The servers not in the pool yet, each with why (hostname -> words), and the seconds waited.
OnWait = Callable[[dict[str, str], float], bool]


def wait_in_pool(*, targets: Sequence[Target], within: float, rise_seconds: float = 0.0,
                 on_wait: OnWait | None = None) -> dict[str, str]:
    """Ask about every target each PAUSE seconds until all are in the pool or `within` seconds
    have passed. `on_wait` hears of each round that found some out (which, why, the seconds
    waited) and answers whether to go on. Answers the targets still out, each with why: empty
    once every one is in."""
    started = time.monotonic()
    passing_since: dict[str, float] = {}
    while True:
        answers = operate(targets=targets, operation=Operation.POOL, timeout=ASK_TIMEOUT)
        now = time.monotonic()
        out = {}
        for answer in answers:
            if not answer.ok:
                passing_since.pop(answer.hostname, None)
                out[answer.hostname] = answer.message
            elif answer.data.get("source") == "health" and rise_seconds > 0:
                since = passing_since.setdefault(answer.hostname, now)
                if now - since < rise_seconds:
                    out[answer.hostname] = (f"healthy for {now - since:.0f} s of the {rise_seconds:g} s "
                                            "the load balancer needs to take it in")
        waited = now - started
        if not out or waited + PAUSE > within:
            return out
        if on_wait is not None and not on_wait(out, waited):
            return out
        time.sleep(PAUSE)
