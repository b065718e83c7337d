"""The upgrade procedures of the process document (S13), as a pure function of the upgrade's
kind and the deployment's groups.

The seed's two tables are written for two server groups. With groups g1..gN (N >= 2) they
generalise as follows (docs/procedures.md says why):

Major (15 steps for two groups):
    [service at risk begins]
    stop g1 - tests via the load balancer against g2..gN - upgrade g1 - configure g1
    [downtime begins]
    database upgrade - stop g2..gN - tests against g1
    [limited service restored]
    for each g in g2..gN: upgrade g - configure g - start g
    stop g1 - tests against g2..gN - start g1 - final tests - sign-off
    [full service restored]

Minor and patch (14 steps for two groups): the same first five steps (the database command
changes no schema), then each other group in turn leaves the pool while the rest serve:
    for each g in g2..gN: stop g - tests against the groups still serving - upgrade g - configure g
    stop g1 - tests against g2..gN - start g1 - final tests - sign-off
    [service at risk ends]

A group stopped right after another started leaves the service to that one, which the load
balancer takes back only once its health checks pass: the engine runs a stop only when the
balancer has the groups that keep serving in its pool (services.engine), outside the downtime.

A preparation step (S12: functionality tests *before* the upgrade) comes first, unnumbered, in
the window's preparation time. Planned times: the preparation step fills the preparation; the
numbered steps share the service-at-risk time by weight, and in a major upgrade the database
upgrade is placed at the announced downtime start (S6).
"""

from dataclasses import dataclass, replace
from datetime import datetime

from upgrades.choices import UpgradeKind


class StepKind:
    OPERATION = "operation"  # a driver operation on every server of a group
    DATABASE = "database"  # the database upgrade command, on group 1's Admin/License server
    CHECKS = "checks"  # functionality tests through the load balancer, confirmed by people
    SIGN_OFF = "sign_off"  # the customer's verification and sign-off (S17)
    SURVEY = "survey"  # a rollback's first step: every server asked what it runs; the rest is planned from it
    VERIFY = "verify"  # a rollback's last step: every server reports the previous versions, the tests pass


class Performer:
    ENGINEER = "engineer"
    ENGINEER_AND_ADMIN = "engineer_and_admin"  # "Cloudpaging engineer / Cloudpaging administrator"


class Phase:
    """What the customer's users live through; a step's `phase` is the one in force while it runs."""

    PREPARATION = "preparation"
    AT_RISK = "at_risk"
    DOWNTIME = "downtime"
    LIMITED = "limited"
    FULL = "full"


PHASE_WORDS = {
    Phase.PREPARATION: "Preparing: the service is not affected yet",
    Phase.AT_RISK: "Service at risk: the service is up, with limited capacity",
    Phase.DOWNTIME: "Downtime: the service is unavailable",
    Phase.LIMITED: "Limited service restored: the service is up, with limited capacity",
    Phase.FULL: "Full service restored",
}

# Relative planned length of each kind of step.
WEIGHTS = {"stop": 1, "start": 1, "install": 3, "configure": 2, StepKind.DATABASE: 3, StepKind.CHECKS: 1,
           StepKind.SIGN_OFF: 1, StepKind.SURVEY: 1, StepKind.VERIFY: 1}


@dataclass(frozen=True)
class PlannedStep:
    number: int | None  # as in the seed's table; None for the preparation step
    key: str  # stable within a run: "stop-g1", "checks-g2", ...
    action: str  # the table's words
    kind: str
    performer: str
    phase: str
    operation: str = ""  # for OPERATION steps: stop, start, install, configure
    groups: tuple[int, ...] = ()  # the groups acted on, or tested (CHECKS)
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    marks: str = ""  # the seed's phase marker that this step begins, if any

    @property
    def weight(self) -> int:
        return WEIGHTS[self.operation or self.kind]


class Planner:
    """Writes planned steps in order: numbered on from `first_number`, each in the phase of the
    last marker, that marker's words on the first step after it; `suffix` ends every key (a
    rollback's round: keys stay unique within a run)."""

    def __init__(self, *, first_number: int = 1, suffix: str = ""):
        self.items: list[PlannedStep] = []
        self.first_number, self.suffix = first_number, suffix
        self.phase, self.mark = Phase.AT_RISK, ""

    def marker(self, phase: str, words: str) -> None:
        self.phase, self.mark = phase, words

    def add(self, key: str, action: str, kind: str, *, operation: str = "", groups=(),
            performer: str = Performer.ENGINEER) -> None:
        self.items.append(PlannedStep(
            number=self.first_number + len(self.items), key=f"{key}{self.suffix}", action=action, kind=kind,
            performer=performer, phase=self.phase, operation=operation, groups=tuple(groups), marks=self.mark,
        ))
        self.mark = ""


class _Steps(Planner):
    def op(self, operation: str, group: int, words: str) -> None:
        self.add(f"{operation}-g{group}", words, StepKind.OPERATION, operation=operation, groups=(group,))

    def tests(self, key: str, groups, words: str) -> None:
        self.add(key, words, StepKind.CHECKS, groups=groups, performer=Performer.ENGINEER_AND_ADMIN)


def _names(groups) -> str:
    groups = list(groups)
    if len(groups) == 1:
        return f"server group {groups[0]}"
    return "server groups " + ", ".join(str(g) for g in groups[:-1]) + f" and {groups[-1]}"


def procedure(*, kind: str, groups: int) -> list[PlannedStep]:
    """The steps of the upgrade, without times. `groups` is the number of server groups (>= 2)."""
    if groups < 2:
        raise ValueError("The procedure needs at least two server groups behind the load balancer (S5).")
    others = range(2, groups + 1)
    steps = _Steps()
    steps.marker(Phase.AT_RISK, "Service at risk / limited capability window begins")
    steps.op("stop", 1, "Stop services on server group 1")
    steps.tests("checks-others", others, f"Perform functionality tests against {_names(others)} via load balancer")
    steps.op("install", 1, "Upgrade service components on server group 1")
    steps.op("configure", 1, "Configure service components on server group 1")
    if kind == UpgradeKind.MAJOR:
        steps.marker(Phase.DOWNTIME, "Service downtime begins")
        steps.add("database", "Run the database upgrade command", StepKind.DATABASE, groups=(1,))
        for group in others:
            steps.op("stop", group, f"Stop services on server group {group}")
        steps.tests("checks-g1", (1,), "Perform functionality tests via the load balancer against server group 1")
        steps.marker(Phase.LIMITED, "Limited service restored (service at risk / limited capability persists)")
        for group in others:
            steps.op("install", group, f"Upgrade service components on server group {group}")
            steps.op("configure", group, f"Configure service components on server group {group}")
            steps.op("start", group, f"Start all services on server group {group}")
    else:
        steps.add("database", "Run the database upgrade command", StepKind.DATABASE, groups=(1,))
        for group in others:
            serving = [g for g in range(1, groups + 1) if g != group]
            steps.op("stop", group, f"Stop services on server group {group}")
            steps.tests(f"checks-without-g{group}", serving,
                        f"Perform functionality tests via the load balancer against {_names(serving)}")
            steps.op("install", group, f"Upgrade service components on server group {group}")
            steps.op("configure", group, f"Configure service components on server group {group}")
    steps.add("stop-g1-again", "Stop all services on server group 1", StepKind.OPERATION, operation="stop", groups=(1,))
    steps.tests("checks-without-g1", others, f"Perform functionality tests via the load balancer against {_names(others)}")
    steps.op("start", 1, "Start all services on server group 1")
    steps.tests("checks-final", range(1, groups + 1), "Perform final functionality tests via the load balancer")
    steps.add("sign-off", "Customer verification and sign-off", StepKind.SIGN_OFF,
              performer=Performer.ENGINEER_AND_ADMIN)
    preparation = PlannedStep(
        number=None, key="checks-before", action="Functionality tests before the upgrade (requirements met, test machine, "
        "log-in, navigation, application launch, admin version)", kind=StepKind.CHECKS,
        performer=Performer.ENGINEER_AND_ADMIN, phase=Phase.PREPARATION, groups=tuple(range(1, groups + 1)),
    )
    return [preparation, *steps.items]


def schedule(steps: list[PlannedStep], *, start: datetime, at_risk_start: datetime, end: datetime,
             downtime_start: datetime | None = None) -> list[PlannedStep]:
    """Planned start and end of each step, from the window: the preparation step fills the
    preparation time, the numbered steps share the service-at-risk time by weight; with a planned
    downtime, the steps before the database upgrade end at its start, the rest share what is left."""
    first, rest = steps[0], steps[1:]
    timed = [replace(first, planned_start=start, planned_end=at_risk_start)]
    split = next((i for i, step in enumerate(rest) if step.kind == StepKind.DATABASE), None)
    if downtime_start is not None and split:
        parts = [(rest[:split], at_risk_start, downtime_start), (rest[split:], downtime_start, end)]
    else:
        parts = [(rest, at_risk_start, end)]
    for part, begins, ends in parts:
        total = sum(step.weight for step in part)
        moment = begins
        for index, step in enumerate(part):
            finish = ends if index == len(part) - 1 else moment + (ends - begins) * step.weight / total
            finish = finish.replace(microsecond=0) if finish != ends else finish
            timed.append(replace(step, planned_start=moment, planned_end=finish))
            moment = finish
    return timed


def step_count(*, kind: str, groups: int) -> int:
    """The numbered steps (the seed's tables: 15 for a major, 14 for a minor with two groups)."""
    return sum(1 for step in procedure(kind=kind, groups=groups) if step.number is not None)

