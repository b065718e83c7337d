"""One simulated deployment while the fleet runs: its state, what is busy, who follows the logs."""

import asyncio
from dataclasses import dataclass, field

from upgrades.lab.model import LOG_LINES_KEPT, DeploymentSpec, DeploymentState, ServerState, Store, now_iso

SAVE_DELAY = 0.05  # seconds
POOL_CHANGES_KEPT = 10_000


@dataclass
class Member:
    """A server as the load balancer sees it."""

    hostname: str
    role: str
    port: int
    healthy: bool | None = None  # None: not checked yet
    successes: int = 0
    failures: int = 0
    reason: str = "not checked yet"
    checked_at: str = ""


@dataclass
class LabDeployment:
    spec: DeploymentSpec
    state: DeploymentState
    store: Store
    members: dict[str, Member] = field(default_factory=dict)
    busy: dict[str, str] = field(default_factory=dict)  # hostname -> operation under way
    # A hung operation waits on its server's event; clearing the faults sets it.
    releases: dict[str, asyncio.Event] = field(default_factory=dict)
    followers: dict[str, set[asyncio.Queue]] = field(default_factory=dict)
    # Every time the load balancer took a member into its pool or out of it (its health checks
    # decided), oldest first: what users could reach at each moment. The last POOL_CHANGES_KEPT.
    pool_changes: list[dict] = field(default_factory=list)

    def server(self, hostname: str) -> ServerState:
        return self.state.servers[hostname]

    save_pending: bool = field(default=False, init=False, repr=False)

    def save(self) -> None:
        """Save soon: changes that come together (an operation's steps, a burst of operations on
        a group) are written once, and the caller's answer does not wait for the disk."""
        if not self.save_pending:
            self.save_pending = True
            asyncio.get_running_loop().call_later(SAVE_DELAY, self.save_now)

    def save_now(self) -> None:
        self.save_pending = False
        self.store.save(self.state)

    def log(self, server: ServerState, line: str) -> str:
        """Append a line to the server's deployment log and hand it to whoever follows it."""
        stamped = f"{now_iso()} {server.hostname} {line}"
        server.log.append(stamped)
        del server.log[:-LOG_LINES_KEPT]
        self.store.append_log(self.state.key, server.hostname, stamped)
        for queue in self.followers.get(server.hostname, ()):
            queue.put_nowait(stamped)
        return stamped

    def release(self, hostname: str) -> asyncio.Event:
        return self.releases.setdefault(hostname, asyncio.Event())

    def pool_changed(self, member: Member) -> None:
        self.pool_changes.append({"at": now_iso(), "hostname": member.hostname, "role": member.role,
                                  "in_pool": bool(member.healthy), "reason": member.reason})
        del self.pool_changes[:-POOL_CHANGES_KEPT]

    def pool(self, role: str) -> list[Member]:
        return [member for member in self.members.values() if member.role == role]
