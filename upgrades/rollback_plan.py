"""The rollback and rebuild procedures (S15, S16), as pure functions of the chosen method and the
deployment's groups, in the planner's own step shape (`upgrades.procedure.PlannedStep`).

Rollback (S15). The seed names three methods; whichever is chosen, "if upgrades were made to the
database schema during a major upgrade, the database will need to be restored from backup":
servers of the previous version cannot serve on the new schema. So:

    schema changed (a major upgrade's database step ran):
        [downtime: every server leaves the pool, the StreamDB goes back]
        stop g1..gN - restore the StreamDB from its backup (on group 1's Admin/License server)
        for each group: revert g (snapshot, or reinstall the previous version) - reconnect g
        [limited service from the first reverted group on]
    schema unchanged (a minor upgrade or patch, or a major one stopped before its database step):
        [service at risk: group by group, the others serve]
        for each group: stop g - revert g - reconnect g

`restore_database` reverts the servers by reinstalling; `restore_snapshots` restores each group's
pre-upgrade VM snapshots; `reinstall_previous` installs the previous version and reconnects. In
the lab fleet a snapshot restore is carried out as the previous version's install plus its
configuration: the lab has no hypervisor, and that is the state a snapshot brings back.

Rebuild (S16) of one group, a clean installation that keeps every datum (the data lives in the
StreamDB and the repository, not in the installation):

    uninstall g - reboot g - reinstall g - reconnect g to the existing database

The engine gives an `install` step its versions (`runs._install_versions`): the previous ones in
a rollback; in a rebuild, what the group runs at that point of the plan.
"""

from upgrades.choices import RollbackMethod
from upgrades.procedure import Performer, Phase, PlannedStep, StepKind

RESTORE_DATABASE = "restore-database"  # the lab agent's and the drivers' operation (Operation.RESTORE_DATABASE)


def _suffix(round_: int) -> str:
    # A run may be rolled back or rebuilt more than once; keys stay unique per (run, procedure).
    return "" if round_ <= 1 else f"-r{round_}"


class _Plan:
    def __init__(self, round_: int):
        self.items: list[PlannedStep] = []
        self.suffix = _suffix(round_)
        self.phase, self.mark = Phase.AT_RISK, ""

    def marker(self, phase: str, words: str) -> None:
        self.phase, self.mark = phase, words

    def op(self, operation: str, group: int, action: str, *, kind: str = StepKind.OPERATION) -> None:
        key = operation if kind == StepKind.DATABASE else f"{operation}-g{group}"
        self.items.append(PlannedStep(
            number=len(self.items) + 1, key=f"{key}{self.suffix}", action=action, kind=kind,
            performer=Performer.ENGINEER, phase=self.phase, operation=operation, groups=(group,), marks=self.mark,
        ))
        self.mark = ""


def _revert(plan: _Plan, method: str, group: int, previous: str) -> None:
    if method == RollbackMethod.RESTORE_SNAPSHOTS:
        plan.op("install", group, f"Restore the pre-upgrade VM snapshots of server group {group} ({previous})")
        plan.op("configure", group, f"Start server group {group} from its snapshots and reconnect it to the database")
    else:
        plan.op("install", group, f"Reinstall the previous version ({previous}) on server group {group}")
        plan.op("configure", group, f"Reconnect server group {group} to the database and start its services")


def rollback_procedure(*, method: str, groups: int, schema_changed: bool, previous: str,
                       round_: int = 1) -> list[PlannedStep]:
    """The rollback's steps for `groups` server groups back to version `previous`."""
    if method not in RollbackMethod.values:
        raise ValueError(f"No rollback method is called {method!r}")
    if method == RollbackMethod.RESTORE_DATABASE and not schema_changed:
        raise ValueError("The database was not upgraded: there is nothing to restore from its backup.")
    plan = _Plan(round_)
    if schema_changed:
        plan.marker(Phase.DOWNTIME, "Rollback: service downtime begins (the StreamDB is restored)")
        for group in range(1, groups + 1):
            plan.op("stop", group, f"Stop services on server group {group}")
        plan.op(RESTORE_DATABASE, 1, "Restore the StreamDB from the backup taken before the upgrade",
                kind=StepKind.DATABASE)
        for group in range(1, groups + 1):
            _revert(plan, method, group, previous)
            if group == 1:
                plan.marker(Phase.LIMITED, "Limited service restored on the previous version")
    else:
        plan.marker(Phase.AT_RISK, "Rollback: service at risk, group by group")
        for group in range(1, groups + 1):
            plan.op("stop", group, f"Stop services on server group {group}")
            _revert(plan, method, group, previous)
    return plan.items


def rebuild_procedure(*, group: int, round_: int = 1) -> list[PlannedStep]:
    """S16: server group `group` rebuilt from scratch with `version`, reconnected to the existing
    database; the other groups serve meanwhile."""
    plan = _Plan(round_)
    plan.marker(Phase.AT_RISK, f"Rebuild of server group {group}: service at risk")
    plan.op("uninstall", group, f"Uninstall all server components on server group {group}")
    plan.op("reboot", group, f"Reboot the servers of server group {group}")
    plan.op("install", group, f"Re-install the server components on server group {group}")
    plan.op("configure", group, f"Re-connect server group {group} to the existing database and start its services")
    return plan.items
