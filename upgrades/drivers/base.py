"""The one interface every driver implements, and what goes in and out of it."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Operation(StrEnum):
    """What a driver can do to a server (S13, S16), and what it can ask it (S11, S12)."""

    STOP = "stop"
    START = "start"
    INSTALL = "install"  # params: cloudpaging, openjdk, tomcat (versions)
    CONFIGURE = "configure"
    UPGRADE_DATABASE = "upgrade-database"
    RESTORE_DATABASE = "restore-database"  # S15: the StreamDB from the backup taken before the upgrade
    UNINSTALL = "uninstall"
    REBOOT = "reboot"
    HEALTH = "health"  # ok when the server would pass its load balancer's health check
    # ok when the load balancer has the server in its pool; data: in_pool, reason, source
    # ("balancer": asked of the balancer; "health": the server's own health check, where the
    # driver cannot ask the balancer: upgrades.drivers.pool counts the passes as the balancer would)
    POOL = "pool"
    VERSIONS = "versions"  # data: versions, running, configured
    REPOSITORY = "repository"  # data: valid, applications (S11's repository validation)


CHANGES = frozenset({
    Operation.STOP, Operation.START, Operation.INSTALL, Operation.CONFIGURE,
    Operation.UPGRADE_DATABASE, Operation.RESTORE_DATABASE, Operation.UNINSTALL, Operation.REBOOT,
})
# The changes that take a running server out of service, and so out of its load balancer's pool.
LEAVES_SERVICE = frozenset({Operation.STOP, Operation.UNINSTALL, Operation.REBOOT})


@dataclass(frozen=True)
class Target:
    """What a driver needs of a registered server, copied from its row: drivers work in an event
    loop and never touch the database. The secret stays a Fernet token until the call that
    needs it decrypts it, and is left out of the repr."""

    hostname: str
    role: str
    driver: str
    address: str
    port: int | None = None
    username: str = ""
    secret_token: str = field(default="", repr=False)
    host_key: str = ""
    commands: dict[str, str] = field(default_factory=dict)  # SSH: operation -> command template
    # The deployment's load balancer, where its health checks decide the pool (its service
    # address); a driver that can ask it (lab) does, for `Operation.POOL`.
    balancer: str = ""


@dataclass(frozen=True)
class LogLine:
    hostname: str
    operation: str
    text: str
    at: datetime


@dataclass(frozen=True)
class Result:
    """How one operation on one server ended. `lines` are every log line it produced, also when it
    failed half-way; `message` says what happened in one sentence."""

    hostname: str
    operation: str
    ok: bool
    message: str
    lines: tuple[str, ...] = ()
    data: dict = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What a driver answers; the group runner turns it into a `Result`."""

    ok: bool
    message: str
    data: dict = field(default_factory=dict)


class DriverError(Exception):
    """An expected failure (unreachable, refused, timed out...): its text is the result's message."""


Emit = Callable[[str], None]


class Driver(Protocol):
    async def perform(self, target: Target, operation: Operation, params: dict, emit: Emit,
                      timeout: float) -> Outcome:
        """Do `operation` on `target`, calling `emit` with each log line as it comes. Raise
        `DriverError` for an expected failure; `timeout` bounds every wait on the network."""
