"""The rollback and rebuild procedures (S15, S16), as pure functions, in the planner's own step
shape (`upgrades.procedure.PlannedStep`).

Rollback (S15). A rollback is planned from what the servers report when it starts, not from the
upgrade's plan: a failure can leave any mix of groups upgraded, half-installed, stopped or
untouched. It runs in three parts:

1. `survey_step`: the engine asks every server its versions and whether it serves (the step's
   work), then plans the rest with `rollback_procedure`.
2. `rollback_procedure(servers=...)`: only what differs from the versions recorded before the run
   (the preflight's) is put back. The seed names three methods; whichever is chosen, "if upgrades
   were made to the database schema during a major upgrade, the database will need to be
   restored from backup": servers of the previous version cannot serve on the new schema. So:

       schema changed (a major upgrade's database step ran):
           [downtime: every server leaves the pool, the StreamDB goes back]
           stop each group still running - restore the StreamDB (group 1's Admin/License server)
           for each group: revert it if it changed (snapshot, or reinstall the previous version,
           then reconnect), else start it on the restored database
           [limited service from the first group on]
       schema unchanged (a minor upgrade or patch, or a major one stopped before its database step):
           [service at risk: group by group, the others serve]
           for each group that changed: stop it - revert it - reconnect it
           for each group unchanged but not serving: start it (or reconnect it, if unconfigured)

   `restore_database` reverts the servers by reinstalling; `restore_snapshots` restores each
   group's pre-upgrade VM snapshots; `reinstall_previous` installs the previous version and
   reconnects. In the lab fleet a snapshot restore is carried out as the previous version's
   install plus its configuration: the lab has no hypervisor, and that is the state a snapshot
   brings back. The engine leaves alone, within a group, a server where a step's change already
   holds (the one still on the previous version).
3. A last `verify` step: every server reports the previous versions and serves, and the
   functionality tests pass through the load balancer. The run ends rolled back only then.

Rebuild (S16) of one group, a clean installation that keeps every datum (the data lives in the
StreamDB and the repository, not in the installation):

    uninstall g - reboot g - reinstall g - reconnect g to the existing database

The engine gives an `install` step its versions (`engine._install_versions`): the previous ones in
a rollback; in a rebuild, what the group runs at that point of the plan.
"""

from dataclasses import dataclass

from upgrades.choices import RollbackMethod
from upgrades.procedure import Performer, Phase, PlannedStep, Planner, StepKind

RESTORE_DATABASE = "restore-database"  # the lab agent's and the drivers' operation (Operation.RESTORE_DATABASE)


@dataclass(frozen=True)
class ServerNow:
    """One server as its driver reports it when the rollback is planned."""

    hostname: str
    role: str
    group: int
    versions: dict[str, str]
    running: bool | None
    configured: bool | None


def _suffix(round_: int) -> str:
    # A run may be rolled back or rebuilt more than once; keys stay unique per (run, procedure).
    return "" if round_ <= 1 else f"-r{round_}"


class _Plan(Planner):
    def __init__(self, round_: int, first_number: int = 1):
        super().__init__(first_number=first_number, suffix=_suffix(round_))

    def op(self, operation: str, group: int, action: str, *, kind: str = StepKind.OPERATION) -> None:
        key = operation if kind == StepKind.DATABASE else f"{operation}-g{group}"
        self.add(key, action, kind=kind, operation=operation, groups=(group,))


def survey_step(*, round_: int = 1, phase: str = Phase.AT_RISK) -> PlannedStep:
    """The rollback's first step; its work plans the others (see the module's docstring)."""
    return PlannedStep(
        number=1, key=f"survey{_suffix(round_)}", kind=StepKind.SURVEY, performer=Performer.ENGINEER, phase=phase,
        action="Ask every server what it runs now, and plan the rollback from it",
    )


def _revert(plan: _Plan, method: str, group: int, previous: str) -> None:
    if method == RollbackMethod.RESTORE_SNAPSHOTS:
        plan.op("install", group, f"Restore the pre-upgrade VM snapshots of server group {group} ({previous})")
        plan.op("configure", group, f"Start server group {group} from its snapshots and reconnect it to the database")
    else:
        plan.op("install", group, f"Reinstall the previous version ({previous}) on server group {group}")
        plan.op("configure", group, f"Reconnect server group {group} to the database and start its services")


def _bring_back(plan: _Plan, group: int, servers: list[ServerNow], previous: str, words: str) -> None:
    """A group that still runs the previous version but does not serve."""
    if all(server.configured for server in servers):
        plan.op("start", group, f"Start server group {group} on {previous} {words}".rstrip())
    else:
        plan.op("configure", group, f"Reconnect server group {group} ({previous}) to the database and start it")


def rollback_procedure(*, method: str, servers: list[ServerNow], schema_changed: bool, previous: dict[str, str],
                       round_: int = 1, first_number: int = 1) -> list[PlannedStep]:
    """The rollback's steps after its survey: `servers` as they report now, `previous` the
    versions recorded before the run (cloudpaging, openjdk, tomcat)."""
    if method not in RollbackMethod.values:
        raise ValueError(f"No rollback method is called {method!r}")
    if method == RollbackMethod.RESTORE_DATABASE and not schema_changed:
        raise ValueError("The database was not upgraded: there is nothing to restore from its backup.")
    groups = sorted({server.group for server in servers})
    members = {group: [server for server in servers if server.group == group] for group in groups}
    version = previous.get("cloudpaging", "")

    def changed(group: int) -> bool:
        return any(server.versions.get(name) != value
                   for server in members[group] for name, value in previous.items() if value)

    def serving(group: int) -> bool:
        return all(server.running and server.configured for server in members[group])

    plan = _Plan(round_, first_number)
    if schema_changed:
        plan.marker(Phase.DOWNTIME, "Rollback: service downtime begins (the StreamDB is restored)")
        for group in groups:
            if any(server.running for server in members[group]):
                plan.op("stop", group, f"Stop services on server group {group}")
        plan.op(RESTORE_DATABASE, groups[0], "Restore the StreamDB from the backup taken before the upgrade",
                kind=StepKind.DATABASE)
        for group in groups:
            if changed(group):
                _revert(plan, method, group, version)
            else:
                _bring_back(plan, group, members[group], version, "and reconnect it to the restored database")
            if group == groups[0]:
                plan.marker(Phase.LIMITED, "Limited service restored on the previous version")
    else:
        plan.marker(Phase.AT_RISK, "Rollback: service at risk, group by group")
        for group in groups:
            if changed(group):
                plan.op("stop", group, f"Stop services on server group {group}")
                _revert(plan, method, group, version)
            elif not serving(group):
                _bring_back(plan, group, members[group], version, "")
    plan.add("verify", f"Verify the rollback: every server reports {version} and the functionality tests pass",
             kind=StepKind.VERIFY, groups=tuple(groups))
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
