"""What each agent operation does to a lab server: the lines it logs, what it refuses, and the
change it makes. An operation's lines are spread over the deployment's operation time.

1. The operation is written in the server's journal as received.
2. A server runs one operation at a time: a second one is refused (busy).
3. Preconditions are checked (install needs the services stopped, ...): a refusal fails it.
4. The first line is logged; then the injected faults act: `hang` waits until the faults are
   cleared, `fail_next` fails the operation with its reason in the log.
5. The other lines are logged, spaced in time; the change is applied and saved.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from upgrades.lab.model import ADMIN, COMPONENTS, ServerState, major, now_iso
from upgrades.lab.runtime import LabDeployment

Emit = Callable[[str], Awaitable[None]]
OPERATIONS = ("stop", "start", "install", "configure", "upgrade-database", "restore-database", "uninstall", "reboot")


@dataclass
class Plan:
    lines: list[str]
    apply: Callable[[], str]  # makes the change; answers the result's message
    during: Callable[[], None] = lambda: None  # what holds while the lines run (schema upgrading)
    undo: Callable[[], None] = lambda: None  # the `during` state undone when the operation fails


@dataclass
class Outcome:
    ok: bool
    message: str
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "message": self.message, "data": self.data}


class Refused(Exception):
    """The operation cannot run on the server as it is."""


def _stop(lab: LabDeployment, server: ServerState, params: dict) -> Plan:
    if not server.running:
        return Plan(["The Cloudpaging Server service is already stopped"], lambda: "The services were already stopped")

    def apply():
        server.running = False
        return "Services stopped"

    return Plan(["Stopping the Cloudpaging Server service", "Stopping Apache Tomcat", "Services stopped"], apply)


def _start(lab: LabDeployment, server: ServerState, params: dict) -> Plan:
    if not server.installed:
        raise Refused("Cloudpaging Server is not installed: install it first")
    if not server.configured:
        raise Refused("Cloudpaging Server is not configured: run the configuration first")

    def apply():
        server.running = True
        return "Services started"

    lines = ["Starting Apache Tomcat", "Starting the Cloudpaging Server service"]
    if major(server.versions["cloudpaging"]) != lab.state.schema:
        lines.append(
            f"WARNING: the StreamDB schema is {lab.state.schema}, this server runs "
            f"{server.versions['cloudpaging']}: it will fail its health check until they match"
        )
    return Plan([*lines, "Services started"], apply)


def _install(lab: LabDeployment, server: ServerState, params: dict) -> Plan:
    wanted = {name: str(params.get(name) or "") for name in COMPONENTS}
    if not wanted["cloudpaging"]:
        raise Refused("No Cloudpaging Server version was given to install")
    if server.running:
        raise Refused("The services are running: stop them before installing")

    def apply():
        server.versions = {name: wanted[name] or server.versions.get(name, "") for name in COMPONENTS}
        server.configured = False  # a new version needs its configuration run again
        return f"Installed Cloudpaging Server {wanted['cloudpaging']}"

    lines = [f"Backing up /opt/cloudpaging to /opt/cloudpaging.bak-{server.versions.get('cloudpaging') or 'none'}"]
    if wanted["openjdk"]:
        lines.append(f"Installing OpenJDK {wanted['openjdk']}")
    if wanted["tomcat"]:
        lines.append(f"Installing Apache Tomcat {wanted['tomcat']}")
    lines += [f"Installing Cloudpaging Server {wanted['cloudpaging']}", "Installation complete"]
    return Plan(lines, apply)


def _configure(lab: LabDeployment, server: ServerState, params: dict) -> Plan:
    if not server.installed:
        raise Refused("Cloudpaging Server is not installed: nothing to configure")

    def apply():
        # The configuration tool starts the services when it ends, as the vendor's does: the
        # procedure tests a group through the load balancer right after configuring it.
        server.configured = True
        server.running = True
        return "Configured; services started"

    return Plan(
        ["Writing server.xml and the StreamDB connection", "Registering the license service",
         "Starting the services", "Configuration complete"],
        apply,
    )


def _upgrade_database(lab: LabDeployment, server: ServerState, params: dict) -> Plan:
    if server.role != ADMIN:
        raise Refused("The database upgrade runs on an Admin/License server")
    if not server.installed:
        raise Refused("Cloudpaging Server is not installed: the upgrade command comes with it")
    target, current = major(server.versions["cloudpaging"]), lab.state.schema
    if int(target) < int(current):
        raise Refused(f"The StreamDB schema {current} is newer than this server's {server.versions['cloudpaging']}")
    if target == current:
        return Plan([f"The StreamDB schema is already at {current}: nothing to upgrade"],
                    lambda: f"Schema already at {current}")

    def during():
        lab.state.schema_upgrading = True

    def undo():
        lab.state.schema_upgrading = False

    def apply():
        # S11's full StreamDB backup is taken before a major upgrade: the lab remembers its schema.
        lab.state.schema, lab.state.schema_upgrading, lab.state.backup_schema = target, False, current
        return f"StreamDB schema upgraded from {current} to {target}"

    return Plan(
        ["Connecting to StreamDB", f"Upgrading the StreamDB schema from {current} to {target}",
         "Migrating the package tables", "Migrating the licence tables", "Schema upgrade complete"],
        apply, during, undo,
    )


def _restore_database(lab: LabDeployment, server: ServerState, params: dict) -> Plan:
    """S15: the StreamDB restored from the backup taken before the major upgrade."""
    if server.role != ADMIN:
        raise Refused("The database restore runs on an Admin/License server")
    backup = lab.state.backup_schema
    if not backup:
        raise Refused("There is no StreamDB backup from before an upgrade to restore")
    running = sorted(other.hostname for other in lab.state.servers.values() if other.running)
    if running:
        # A server still connected would write to the database while it is being replaced.
        raise Refused(f"Stop every server before restoring the StreamDB: {', '.join(running)} still running")
    current = lab.state.schema
    if current == backup:
        return Plan([f"The StreamDB schema is already at {backup}: nothing to restore"],
                    lambda: f"Schema already at {backup}")

    def apply():
        lab.state.schema, lab.state.backup_schema = backup, ""
        return f"StreamDB restored from backup: schema {current} back to {backup}"

    return Plan(
        ["Connecting to StreamDB", f"Restoring the StreamDB from the backup taken at schema {backup}",
         "Restoring the package tables", "Restoring the licence tables", "Restore complete"],
        apply,
    )


def _uninstall(lab: LabDeployment, server: ServerState, params: dict) -> Plan:
    def apply():
        server.running, server.configured = False, False
        server.versions = {name: "" for name in COMPONENTS}
        return "All components uninstalled"

    return Plan(["Stopping the services", "Removing Cloudpaging Server", "Removing Apache Tomcat",
                 "Removing OpenJDK", "Uninstalled"], apply)


def _reboot(lab: LabDeployment, server: ServerState, params: dict) -> Plan:
    def during():
        server.running = False

    def apply():
        # Services start on boot when they are installed and configured.
        server.running = server.installed and server.configured
        return "Rebooted" + ("; services started" if server.running else "; services not started")

    return Plan(["Rebooting", "Server is back"], apply, during)


PLANNERS = {
    "stop": _stop, "start": _start, "install": _install, "configure": _configure,
    "upgrade-database": _upgrade_database, "restore-database": _restore_database, "uninstall": _uninstall, "reboot": _reboot,
}


async def perform(lab: LabDeployment, server: ServerState, operation: str, params: dict, emit: Emit) -> Outcome:
    """Run one operation on one server (the numbered steps in the module's docstring)."""
    entry = {"at": now_iso(), "operation": operation, "params": params, "outcome": "running"}
    server.journal.append(entry)

    async def say(line: str) -> None:
        # The deployment log file stamps each line with time and host; the caller streaming the
        # operation knows both already and gets the line itself.
        lab.log(server, line)
        await emit(line)

    outcome = await _perform(lab, server, operation, params, say)
    entry["outcome"], entry["ended"] = "ok" if outcome.ok else "failed", now_iso()
    lab.save()
    return outcome


async def _perform(lab: LabDeployment, server: ServerState, operation: str, params: dict, say: Emit) -> Outcome:
    if server.hostname in lab.busy:
        return Outcome(False, f"Busy: {lab.busy[server.hostname]} is still running on {server.hostname}")
    try:
        plan = PLANNERS[operation](lab, server, params)
    except Refused as refusal:
        await say(f"ERROR: {refusal}")
        return Outcome(False, str(refusal))
    lab.busy[server.hostname] = operation
    try:
        return await _run(lab, server, plan, say)
    finally:
        del lab.busy[server.hostname]


async def _run(lab: LabDeployment, server: ServerState, plan: Plan, say: Emit) -> Outcome:
    first, *rest = plan.lines
    await say(first)
    if "hang" in server.faults:
        release = lab.release(server.hostname)
        release.clear()
        await release.wait()
        await say("ERROR: the operation hung and was abandoned")
        return Outcome(False, "The operation hung and was abandoned")
    reason = server.faults.pop("fail_next", None)
    if reason is not None:
        await say(f"ERROR: {reason}")
        return Outcome(False, reason)
    plan.during()
    lab.save()
    pause = lab.state.op_seconds / max(1, len(rest))
    try:
        for line in rest:
            if pause:
                await asyncio.sleep(pause)
            await say(line)
    except asyncio.CancelledError:
        plan.undo()
        raise
    message = plan.apply()
    return Outcome(True, message)
