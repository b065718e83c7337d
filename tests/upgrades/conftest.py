"""Lab fleets for the tests: real listeners on loopback, in a thread of the test process, their
state under the test's own folder; and real SSH servers in front of lab servers."""

from dataclasses import dataclass, field

import asyncssh
import pytest
from celery.contrib.testing.worker import start_worker
from celery.worker import state as worker_state

from portal import credentials
from portal.celery import app as celery_app
from portal.models import User
from tests.conftest import QUEUES, wait_for
from tests.factories import SupportUserFactory
from upgrades.choices import ProbeState
from upgrades.models import AvailabilityProbe, Release
from upgrades.services.availability import probe_stop
from upgrades.drivers import Target
from upgrades.lab.control import LabControl
from upgrades.lab.fleet import FleetThread, LabFleet
from upgrades.lab.model import ADMIN, STREAM, DeploymentSpec, ServerSpec
from upgrades.lab.sshd import LAB_COMMANDS, LabSsh, start_ssh, stop_ssh

VERSION_9_4 = {"cloudpaging": "9.4.2", "openjdk": "17.0.10", "tomcat": "9.0.85"}
VERSION_9_5 = {"cloudpaging": "9.5.0", "openjdk": "17.0.12", "tomcat": "9.0.91"}
VERSION_10 = {"cloudpaging": "10.0.0", "openjdk": "21.0.5", "tomcat": "10.1.31"}
SSH_USER = "svc-upgrade"


def lab_spec(*, key: str = "lab", groups: int = 2, health_checks: bool = True, op_seconds: float = 0.0) -> DeploymentSpec:
    servers = []
    for position in range(1, groups + 1):
        servers += [ServerSpec(f"cpadmin{position:02d}.lab.example", ADMIN),
                    ServerSpec(f"cpstream{position:02d}.lab.example", STREAM)]
    return DeploymentSpec(
        key=key, servers=servers, versions=dict(VERSION_9_4), health_checks=health_checks,
        check_interval=0.05, check_timeout=0.5, rise=1, fall=1, op_seconds=op_seconds,
    )


@dataclass
class Lab:
    thread: FleetThread
    spec: DeploymentSpec
    ssh_servers: list[LabSsh] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.lb_port}"

    @property
    def control(self) -> LabControl:
        return LabControl(self.url)

    def port_of(self, hostname: str) -> int:
        return next(server.port for server in self.spec.servers if server.hostname == hostname)

    def target(self, hostname: str) -> Target:
        role = next(server.role for server in self.spec.servers if server.hostname == hostname)
        return Target(hostname=hostname, role=role, driver="lab", address="127.0.0.1", port=self.port_of(hostname),
                      balancer=self.url if self.spec.health_checks else "")

    def group(self, position: int) -> list[Target]:
        return [self.target(f"cpadmin{position:02d}.lab.example"), self.target(f"cpstream{position:02d}.lab.example")]

    def state(self, hostname: str):
        return self.thread.fleet.deployments[self.spec.key].server(hostname)

    def ssh_target(self, hostname: str, *, password: str | None = None, client_key=None) -> Target:
        """A real SSH server on loopback whose `labctl` acts on this lab server, and a target for
        the SSH driver that logs in with `password` or `client_key` (an asyncssh private key)."""
        served = self.thread.run(start_ssh(
            agent_port=self.port_of(hostname), username=SSH_USER, password=password,
            client_key=client_key.export_public_key().decode() if client_key is not None else None,
        ))
        self.ssh_servers.append(served)
        secret = password if password is not None else client_key.export_private_key().decode()
        return Target(
            hostname=hostname, role=self.target(hostname).role, driver="ssh", address="127.0.0.1",
            port=served.port, username=SSH_USER, secret_token=credentials.seal(secret),
            host_key=served.known_host, commands=dict(LAB_COMMANDS),
        )


@pytest.fixture
def start_lab(tmp_path):
    """Start a lab fleet (`lab_spec` options); every one started is stopped after the test."""
    started: list[Lab] = []

    def start(*, data_dir=None, spec: DeploymentSpec | None = None, **options) -> Lab:
        spec = spec or lab_spec(**options)
        thread = FleetThread(LabFleet([spec], data_dir=data_dir or tmp_path / "lab"))
        thread.start()
        lab = Lab(thread=thread, spec=spec)
        started.append(lab)
        return lab

    yield start
    for lab in started:
        for served in lab.ssh_servers:
            lab.thread.run(stop_ssh(served))
        lab.thread.stop()


@pytest.fixture
def lab(start_lab) -> Lab:
    """Two groups behind a load balancer with health checks, operations taking no time."""
    return start_lab()


@pytest.fixture(scope="session")
def client_key():
    return asyncssh.generate_private_key("ssh-ed25519")


# A health check may take a second and must fail twice: a loaded test machine is not an outage.
QUICK_HEALTH_CHECKS = {"check_interval": 0.05, "check_timeout": 1.0, "rise": 1, "fall": 2}


def on_the_lab(start_lab, deployment, *, op_seconds: float = 0.0, health_checks: dict = QUICK_HEALTH_CHECKS) -> Lab:
    """`deployment`'s registered fleet, simulated by a lab fleet on free ports that its server rows
    and service address now point at; its load balancer checks its members as `health_checks`
    says (DeploymentSpec's check_interval, check_timeout, rise, fall)."""
    from portal.models import Deployment, Server
    from upgrades.fleet import lab_specs

    [spec] = lab_specs(deployment_ids=[deployment.pk], op_seconds=op_seconds, **health_checks)
    spec.lb_port = 0
    for server in spec.servers:
        server.port = 0
    lab = start_lab(spec=spec)
    for server in spec.servers:
        Server.objects.filter(deployment=deployment, hostname=server.hostname).update(port=server.port)
    Deployment.objects.filter(pk=deployment.pk).update(service_url=lab.url)
    deployment.refresh_from_db()
    return lab


@pytest.fixture
def northwind_lab(start_lab, northwind_deployment) -> Lab:
    """Northwind's registered fleet on a lab fleet."""
    return on_the_lab(start_lab, northwind_deployment)


@pytest.fixture
def workers(transactional_db, settings):
    """A real Celery worker with three threads: the prober holds one for the whole run, the
    steps run on the others. Its tasks see committed rows only, hence the transactional database.
    The test labs' balancers check every 50 ms: failing checks are tried again for 5 s, so that a
    test left with a run whose checks fail ends soon."""
    settings.RUN_CHECKS_SETTLE_SECONDS = 5
    with start_worker(celery_app, pool="threads", concurrency=3, perform_ping_check=False, loglevel="WARNING",
                      shutdown_timeout=10, queues=QUEUES):
        yield
        # A run the test left unfinished still has its prober sampling: it stops at its next batch.
        # Wait for every task to end before the database is emptied under it.
        for probe in AvailabilityProbe.objects.filter(state=ProbeState.RUNNING):
            probe_stop(probe=probe)
        wait_for(lambda: not worker_state.active_requests, timeout=15)


@pytest.fixture
def other_support(world) -> User:
    """A second support person at the desk."""
    return SupportUserFactory(email="kim@vendor.example", full_name="Kim Desk")


@pytest.fixture
def major(world) -> Release:
    return Release.objects.get(version="10.0.0")


@pytest.fixture
def minor(world) -> Release:
    return Release.objects.get(version="9.5.0")
