"""The procedure planner (S13): the seed's two tables, step for step, and how they grow with the
number of server groups (docs/procedures.md)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from scheduling.plan import plan_window
from upgrades.choices import UpgradeKind
from upgrades.procedure import Performer, Phase, StepKind, procedure, schedule, step_count

E, EA = Performer.ENGINEER, Performer.ENGINEER_AND_ADMIN

# The seed's tables (cloudpaging-server-upgrade-process.txt), as written there.
MAJOR_TABLE = [
    (1, "Stop services on server group 1", E),
    (2, "Perform functionality tests against server group 2 via load balancer", EA),
    (3, "Upgrade service components on server group 1", E),
    (4, "Configure service components on server group 1", E),
    (5, "Run the database upgrade command", E),
    (6, "Stop services on server group 2", E),
    (7, "Perform functionality tests via the load balancer against server group 1", EA),
    (8, "Upgrade service components on server group 2", E),
    (9, "Configure service components on server group 2", E),
    (10, "Start all services on server group 2", E),
    (11, "Stop all services on server group 1", E),
    (12, "Perform functionality tests via the load balancer against server group 2", EA),
    (13, "Start all services on server group 1", E),
    (14, "Perform final functionality tests via the load balancer", EA),
    (15, "Customer verification and sign-off", EA),
]
MINOR_TABLE = [
    (1, "Stop services on server group 1", E),
    (2, "Perform functionality tests against server group 2 via load balancer", EA),
    (3, "Upgrade service components on server group 1", E),
    (4, "Configure service components on server group 1", E),
    (5, "Run the database upgrade command", E),
    (6, "Stop services on server group 2", E),
    (7, "Perform functionality tests via the load balancer against server group 1", EA),
    (8, "Upgrade service components on server group 2", E),
    (9, "Configure service components on server group 2", E),
    (10, "Stop all services on server group 1", E),
    (11, "Perform functionality tests via the load balancer against server group 2", EA),
    (12, "Start all services on server group 1", E),
    (13, "Perform final functionality tests via the load balancer", EA),
    (14, "Customer verification and sign-off", EA),
]


def numbered(kind: str, groups: int):
    return [step for step in procedure(kind=kind, groups=groups) if step.number is not None]


def test_the_major_procedure_for_two_groups_is_the_seeds_fifteen_steps():
    steps = numbered(UpgradeKind.MAJOR, 2)

    assert [(step.number, step.action, step.performer) for step in steps] == MAJOR_TABLE
    assert step_count(kind=UpgradeKind.MAJOR, groups=2) == 15


def test_the_minor_procedure_for_two_groups_is_the_seeds_fourteen_steps():
    steps = numbered(UpgradeKind.MINOR, 2)

    assert [(step.number, step.action, step.performer) for step in steps] == MINOR_TABLE
    assert step_count(kind=UpgradeKind.MINOR, groups=2) == 14


def test_a_patch_follows_the_minor_procedure():
    assert procedure(kind=UpgradeKind.PATCH, groups=2) == procedure(kind=UpgradeKind.MINOR, groups=2)


def test_the_major_phase_markers_sit_where_the_seed_puts_them():
    steps = numbered(UpgradeKind.MAJOR, 2)
    marks = {step.number: step.marks for step in steps if step.marks}
    phases = [(step.number, step.phase) for step in steps]

    assert marks == {
        1: "Service at risk / limited capability window begins",
        5: "Service downtime begins",
        8: "Limited service restored (service at risk / limited capability persists)",
    }
    assert phases == [(n, Phase.AT_RISK) for n in range(1, 5)] + [(n, Phase.DOWNTIME) for n in range(5, 8)] + [
        (n, Phase.LIMITED) for n in range(8, 16)]


def test_the_minor_procedure_has_service_at_risk_throughout():
    steps = numbered(UpgradeKind.MINOR, 2)

    assert {step.phase for step in steps} == {Phase.AT_RISK}
    assert [step.number for step in steps if step.marks] == [1]


def test_functionality_tests_come_before_the_upgrade_in_the_preparation():
    first = procedure(kind=UpgradeKind.MAJOR, groups=2)[0]

    assert first.number is None and first.kind == StepKind.CHECKS and first.phase == Phase.PREPARATION
    assert first.groups == (1, 2) and first.performer == EA


def test_each_step_says_what_it_does_to_which_group():
    steps = {step.number: step for step in numbered(UpgradeKind.MAJOR, 2)}

    assert (steps[3].kind, steps[3].operation, steps[3].groups) == (StepKind.OPERATION, "install", (1,))
    assert (steps[5].kind, steps[5].groups) == (StepKind.DATABASE, (1,))
    assert (steps[7].kind, steps[7].groups) == (StepKind.CHECKS, (1,))
    assert (steps[13].operation, steps[13].groups) == ("start", (1,))
    assert steps[15].kind == StepKind.SIGN_OFF


def test_three_groups_follow_the_generalised_major_shape():
    actions = [step.action for step in numbered(UpgradeKind.MAJOR, 3)]

    assert actions == [
        "Stop services on server group 1",
        "Perform functionality tests against server groups 2 and 3 via load balancer",
        "Upgrade service components on server group 1",
        "Configure service components on server group 1",
        "Run the database upgrade command",
        "Stop services on server group 2",
        "Stop services on server group 3",
        "Perform functionality tests via the load balancer against server group 1",
        "Upgrade service components on server group 2",
        "Configure service components on server group 2",
        "Start all services on server group 2",
        "Upgrade service components on server group 3",
        "Configure service components on server group 3",
        "Start all services on server group 3",
        "Stop all services on server group 1",
        "Perform functionality tests via the load balancer against server groups 2 and 3",
        "Start all services on server group 1",
        "Perform final functionality tests via the load balancer",
        "Customer verification and sign-off",
    ]


def test_three_groups_follow_the_generalised_minor_shape():
    actions = [step.action for step in numbered(UpgradeKind.MINOR, 3)]

    assert actions[4:14] == [
        "Run the database upgrade command",
        "Stop services on server group 2",
        "Perform functionality tests via the load balancer against server groups 1 and 3",
        "Upgrade service components on server group 2",
        "Configure service components on server group 2",
        "Stop services on server group 3",
        "Perform functionality tests via the load balancer against server groups 1 and 2",
        "Upgrade service components on server group 3",
        "Configure service components on server group 3",
        "Stop all services on server group 1",
    ]
    assert len(actions) == 18


def _serving_at_each_test(kind: str, groups: int):
    """Play the procedure: which groups run when each functionality test happens. Configuring a
    group starts its services (as the vendor's tool does)."""
    running = set(range(1, groups + 1))
    for step in procedure(kind=kind, groups=groups)[1:]:
        if step.operation == "stop":
            running -= set(step.groups)
        elif step.operation in ("configure", "start"):
            running |= set(step.groups)
        elif step.kind == StepKind.CHECKS:
            yield step, set(running)


@given(groups=st.integers(min_value=2, max_value=8), kind=st.sampled_from([UpgradeKind.MAJOR, UpgradeKind.MINOR]))
def test_any_number_of_groups_upgrades_each_group_once_and_tests_exactly_the_serving_groups(groups, kind):
    steps = procedure(kind=kind, groups=groups)
    per_group = {g: [s.operation for s in steps if s.kind == StepKind.OPERATION and s.groups == (g,)]
                 for g in range(1, groups + 1)}

    assert [s.number for s in steps[1:]] == list(range(1, len(steps)))
    assert len({s.key for s in steps}) == len(steps)
    for group, operations in per_group.items():
        assert operations.count("install") == 1 and operations.count("configure") == 1
        assert operations.index("stop") < operations.index("install") < operations.index("configure")
    for check, serving in _serving_at_each_test(kind, groups):
        # S12: the tests go through the load balancer, so they test the groups that serve.
        assert serving and set(check.groups) == serving, check.action
    database = next(i for i, s in enumerate(steps) if s.kind == StepKind.DATABASE)
    installs = [i for i, s in enumerate(steps) if s.operation == "install"]
    # The schema changes once group 1 carries the new version, before any other group's.
    assert installs[0] < database < installs[1]
    assert len([s for s in steps if s.number]) == (15 if kind == UpgradeKind.MAJOR else 14) + 4 * (groups - 2)


def test_planned_times_fill_the_window_with_the_database_upgrade_at_the_announced_downtime():
    start = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    window = plan_window(start=start, kind=UpgradeKind.MAJOR, servers=4, preparation=timedelta(minutes=15))

    steps = schedule(procedure(kind=UpgradeKind.MAJOR, groups=2), start=window.start,
                     at_risk_start=window.at_risk_start, end=window.end, downtime_start=window.downtime_start)

    assert (steps[0].planned_start, steps[0].planned_end) == (window.start, window.at_risk_start)
    assert steps[1].planned_start == window.at_risk_start and steps[-1].planned_end == window.end
    for before, after in zip(steps, steps[1:]):
        assert before.planned_end == after.planned_start  # one after the other, no gap
        assert after.planned_start < after.planned_end
    database = next(step for step in steps if step.kind == StepKind.DATABASE)
    assert database.planned_start == window.downtime_start


def test_planned_times_of_a_minor_upgrade_share_the_service_at_risk_time():
    start = datetime(2026, 8, 4, 9, 0, tzinfo=UTC)
    window = plan_window(start=start, kind=UpgradeKind.MINOR, servers=6, preparation=timedelta(minutes=15))

    steps = schedule(procedure(kind=UpgradeKind.MINOR, groups=3), start=window.start,
                     at_risk_start=window.at_risk_start, end=window.end)

    assert all(window.start <= step.planned_start < step.planned_end <= window.end for step in steps)
    assert steps[-1].planned_end == window.end
    install, stop = (next(s for s in steps if s.key == key) for key in ("install-g1", "stop-g1"))
    assert install.planned_end - install.planned_start == 3 * (stop.planned_end - stop.planned_start)
