"""Drivers reach registered servers (S11-S16): one interface (`base.Driver`), implemented by
`lab` (the lab fleet's agent over HTTP) and `ssh` (a deployment's command templates over SSH).

Callers use `operate` (synchronous: Celery tasks, services) or `operate_async`: one operation on
the servers of a group at once, the log lines handed over as they come (`on_lines`, in batches
while they come fast; `on_line`, one by one, for `operate_async`), one `Result` per server. `probe_servers` is the preflight's question: reachable, which versions, is the repository
valid. `wait_in_pool` waits, within a bound, until servers are in their load balancer's pool.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from portal.models import Server
from upgrades.drivers.base import CHANGES, LEAVES_SERVICE, LogLine, Operation, Result, Target
from upgrades.drivers.group import DEFAULT_TIMEOUT, operate, operate_async, operate_one
from upgrades.drivers.pool import wait_in_pool
from upgrades.drivers.targets import targets_of

__all__ = [
    "CHANGES", "DEFAULT_TIMEOUT", "LEAVES_SERVICE", "LogLine", "Operation", "Probe", "Result", "Target",
    "operate", "operate_async", "operate_one", "probe_servers", "targets_of", "wait_in_pool",
]

PROBE_TIMEOUT = 15.0


@dataclass(frozen=True)
class Probe:
    """What a driver could measure of one server."""

    hostname: str
    available: bool  # False: no driver can measure this server
    reachable: bool | None = None
    versions: dict[str, str] = field(default_factory=dict)
    repository_ok: bool | None = None
    message: str = ""
    running: bool | None = None  # its services run
    configured: bool | None = None

    def as_dict(self) -> dict:
        return {
            "hostname": self.hostname, "available": self.available, "reachable": self.reachable,
            "versions": self.versions, "repository_ok": self.repository_ok, "message": self.message,
            "running": self.running, "configured": self.configured,
        }


async def _probe(target: Target, timeout: float) -> Probe:
    versions = await operate_one(target, Operation.VERSIONS, timeout=timeout)
    if not versions.ok:
        return Probe(hostname=target.hostname, available=True, reachable=False, message=versions.message)
    repository = await operate_one(target, Operation.REPOSITORY, timeout=timeout)
    return Probe(
        hostname=target.hostname, available=True, reachable=True, versions=versions.data["versions"],
        repository_ok=repository.data["valid"] if repository.ok else None,
        message=repository.message, running=versions.data.get("running"), configured=versions.data.get("configured"),
    )


def probe_servers(servers: list[Server], *, timeout: float = PROBE_TIMEOUT) -> list[Probe]:
    """Every server at once: reachable, versions, repository (for the preflight)."""
    targets = targets_of(servers)

    async def every() -> list[Probe]:
        return list(await asyncio.gather(*(_probe(target, timeout) for target in targets)))

    return _in_own_loop(every)


def _in_own_loop(coroutine_function):
    # Callers are synchronous and may run where Django forbids a running loop in their thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine_function()).result()
