"""Starting and stopping a lab fleet: every listener of every deployment in one event loop.

`LabFleet.serve()` runs it in the current loop (`manage.py labfleet`); `running_fleet(...)` runs it
in a thread of its own for the tests and the benches, and gives the ports it bound.
"""

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
from aiohttp import web

from portal.service_thread import ServiceThread
from upgrades.lab.agent import server_app
from upgrades.lab.balancer import balancer_app, check_health
from upgrades.lab.model import DeploymentSpec, ServerSpec, Store, new_server
from upgrades.lab.runtime import LabDeployment, Member

HOST = "127.0.0.1"  # the lab listens on loopback unless a deployment's spec names its host


def _socket(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


class LabFleet:
    def __init__(self, specs: list[DeploymentSpec], *, data_dir: Path):
        self.store = Store(data_dir)
        self.deployments = {spec.key: LabDeployment(spec=spec, state=self.store.load(spec), store=self.store)
                            for spec in specs}
        self._runners: list[web.AppRunner] = []
        self._checks: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self, *, skip_busy: bool = False) -> dict[str, str]:
        """Bind every listener (port 0 picks a free one, written back into the spec), then start
        the health checks. With `skip_busy`, a deployment whose ports are taken is left out (and
        named in the answer, with why) instead of stopping the whole fleet."""
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0))
        skipped = {}
        for key, lab in list(self.deployments.items()):
            try:
                await self._bind(lab, lab.spec.servers, balancer=True)
            except OSError as error:
                if not skip_busy:
                    raise
                skipped[key] = f"{error.strerror or error} (port taken?)"
                del self.deployments[key]
        return skipped

    async def sync(self, specs: list[DeploymentSpec]) -> dict[str, str]:
        """Serve what `specs` registers that the fleet does not serve yet: a deployment registered
        while it runs, or servers added to one it serves. Answers, per deployment taken on or
        grown, "" or why it could not be (its ports are taken)."""
        changed = {}
        for spec in specs:
            lab = self.deployments.get(spec.key)
            try:
                if lab is None:
                    lab = LabDeployment(spec=spec, state=self.store.load(spec), store=self.store)
                    self.deployments[spec.key] = lab
                    await self._bind(lab, spec.servers, balancer=True)
                else:
                    added = [server for server in spec.servers if server.hostname not in lab.members]
                    if not added:
                        continue
                    await self._bind(lab, added, balancer=False)
            except OSError as error:
                if not lab.members:
                    del self.deployments[spec.key]
                changed[spec.key] = f"{error.strerror or error} (port taken?)"
            else:
                changed[spec.key] = ""
        return changed

    async def _bind(self, lab: LabDeployment, servers: list[ServerSpec], *, balancer: bool) -> None:
        """A listener per server (and the load balancer with its health checks, for a deployment
        new to the fleet); none of them if one port is taken (OSError)."""
        runners: list[web.AppRunner] = []
        bound: list[str] = []
        host = lab.spec.host
        try:
            for server in servers:
                lab.state.servers.setdefault(server.hostname, new_server(lab.spec, server))
                server.port = await self._listen(server_app(lab, server.hostname), host, server.port, runners)
                lab.members[server.hostname] = Member(hostname=server.hostname, role=server.role, port=server.port)
                bound.append(server.hostname)
            if balancer:
                lab.spec.lb_port = await self._listen(balancer_app(lab), host, lab.spec.lb_port, runners)
        except OSError:
            for runner in runners:
                await runner.cleanup()
            for hostname in bound:
                del lab.members[hostname]
            raise
        lab.spec.servers += [server for server in servers if server not in lab.spec.servers]
        self._runners += runners
        lab.save_now()
        if balancer and lab.spec.health_checks:
            self._checks.append(asyncio.create_task(check_health(lab, self._session)))

    async def _listen(self, app: web.Application, host: str, port: int, runners: list[web.AppRunner]) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        runners.append(runner)
        listener = _socket(host, port)
        try:
            await web.SockSite(runner, listener).start()
        except BaseException:
            listener.close()
            raise
        return listener.getsockname()[1]

    async def stop(self) -> None:
        for task in self._checks:
            task.cancel()
        await asyncio.gather(*self._checks, return_exceptions=True)
        for lab in self.deployments.values():
            for release in lab.releases.values():
                release.set()  # hung operations end, so their handlers let the runners stop
        for runner in reversed(self._runners):
            await runner.cleanup()
        if self._session is not None:
            await self._session.close()
        for lab in self.deployments.values():
            lab.save_now()

    async def serve(self, stopped: asyncio.Event) -> None:
        await self.start()
        try:
            await stopped.wait()
        finally:
            await self.stop()


class FleetThread(ServiceThread):
    """A lab fleet in a thread with its own event loop."""

    def __init__(self, fleet: LabFleet):
        super().__init__(fleet, name="lab fleet")

    @property
    def fleet(self) -> LabFleet:
        return self.service


@contextmanager
def running_fleet(specs: list[DeploymentSpec], *, data_dir: Path) -> Iterator[FleetThread]:
    thread = FleetThread(LabFleet(specs, data_dir=data_dir))
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
