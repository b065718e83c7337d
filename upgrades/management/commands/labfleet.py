import asyncio
import signal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from portal.embedded import data_dir
from upgrades.fleet import lab_specs
from upgrades.lab.fleet import LabFleet


class Command(BaseCommand):
    help = "Run the lab fleet (simulated servers and load balancers on loopback) of the registered lab deployments."

    def add_arguments(self, parser):
        parser.add_argument("--deployment", type=int, action="append", dest="deployments",
                            help="a deployment's id (repeat for more); all lab deployments when omitted")
        parser.add_argument("--data-dir", type=Path, help="where the fleet keeps its state (default: .data/lab)")
        parser.add_argument("--op-seconds", type=float, default=3.0, help="how long each agent operation takes")
        parser.add_argument("--check-interval", type=float, default=1.0, help="seconds between health checks")
        parser.add_argument("--check-timeout", type=float, default=0.5, help="seconds a health check may take")
        parser.add_argument("--rise", type=int, default=2, help="passed checks in a row to enter the pool")
        parser.add_argument("--fall", type=int, default=2, help="failed checks in a row to leave the pool")
        parser.add_argument("--watch", type=float, default=5.0,
                            help="seconds between looks for lab deployments registered meanwhile (0: never)")

    def handle(self, *args, **options):
        self.options = options
        specs = self._specs()
        if not specs and options["deployments"]:
            raise CommandError("None of these deployments has lab servers on loopback ports.")
        fleet = LabFleet(specs, data_dir=options["data_dir"] or data_dir() / "lab")
        asyncio.run(self._serve(fleet))

    def _specs(self):
        options = self.options
        try:
            return lab_specs(
                deployment_ids=options["deployments"], op_seconds=options["op_seconds"],
                check_interval=options["check_interval"], check_timeout=options["check_timeout"],
                rise=options["rise"], fall=options["fall"],
            )
        finally:
            connection.close()  # read in a thread of its own: nothing held between looks

    def _said(self, lab) -> None:
        servers = ", ".join(f"{server.hostname}:{server.port}" for server in lab.spec.servers)
        checks = "with health checks" if lab.spec.health_checks else "without health checks"
        self.stdout.write(f"{lab.spec.key}: load balancer on {lab.spec.host}:{lab.spec.lb_port} ({checks}); {servers}")
        self.stdout.flush()

    async def _watch(self, fleet: LabFleet, stopped: asyncio.Event) -> None:
        """Serve the lab deployments registered while the fleet runs (an administrator adds a
        customer's servers on the lab's ports: they answer within a few seconds)."""
        every = self.options["watch"]
        while every > 0 and not stopped.is_set():
            try:
                await asyncio.wait_for(stopped.wait(), timeout=every)
            except TimeoutError:
                pass
            if stopped.is_set():
                return
            specs = [spec for spec in await asyncio.to_thread(self._specs) if spec.key not in self.refused]
            for key, why in (await fleet.sync(specs)).items():
                if why:
                    self.refused.add(key)  # said once; not tried again until the fleet restarts
                    self.stderr.write(f"{key} is not simulated: {why}")
                else:
                    self._said(fleet.deployments[key])

    async def _serve(self, fleet: LabFleet) -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        # A port taken (another portal running the demo, say) leaves that deployment out rather
        # than stopping `make run` with it.
        self.refused = set()
        for key, why in (await fleet.start(skip_busy=True)).items():
            self.refused.add(key)
            self.stderr.write(f"{key} is not simulated: {why}")
        if not fleet.deployments:
            # Under `make run` an empty fleet waits quietly rather than stopping everything.
            self.stdout.write("Nothing to simulate: no lab deployment is listening.")
        for lab in fleet.deployments.values():
            self._said(lab)
        self.stdout.flush()
        try:
            await self._watch(fleet, stopped)
            await stopped.wait()
        finally:
            await fleet.stop()
            self.stdout.write("The lab fleet stopped; its state is kept.")
