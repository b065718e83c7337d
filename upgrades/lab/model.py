"""What the lab fleet knows: how each deployment is laid out (its spec, from the portal), and what
each of its servers has installed and runs (its state, kept as JSON so a restart resumes)."""

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ADMIN = "admin_license"
STREAM = "stream"
COMPONENTS = ("cloudpaging", "openjdk", "tomcat")
PUBLISHED = "published"
# The deployment log keeps the last lines only; the journal keeps every operation (tests read it
# to prove that nothing ran twice).
LOG_LINES_KEPT = 2_000

DEFAULT_APPLICATIONS = ("Adobe Reader", "MATLAB R2025b", "SPSS Statistics 30", "Visual Studio Code")


def major(version: str) -> str:
    return version.split(".", 1)[0] if version else ""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class ServerSpec:
    hostname: str
    role: str
    port: int = 0  # 0: any free port, chosen when the fleet starts


@dataclass
class DeploymentSpec:
    """One simulated deployment. Times are in seconds; `rise`/`fall` are how many checks in a row
    bring a member into the pool or take it out (as HAProxy's `rise`/`fall`)."""

    key: str
    servers: list[ServerSpec]
    versions: dict[str, str]  # what a new server has installed
    lb_port: int = 0
    health_checks: bool = True
    check_interval: float = 1.0
    check_timeout: float = 0.5
    rise: int = 2
    fall: int = 2
    op_seconds: float = 2.0
    applications: tuple[str, ...] = DEFAULT_APPLICATIONS
    # Where every listener of the deployment binds: loopback, unless the lab runs on a host of
    # its own (settings.LAB_ADDRESS).
    host: str = "127.0.0.1"


@dataclass
class ServerState:
    hostname: str
    role: str
    versions: dict[str, str]
    configured: bool = True
    running: bool = True
    applications: list[dict] = field(default_factory=list)  # {"name", "status"}
    faults: dict = field(default_factory=dict)  # fail_next: reason, hang: reason, slow_health: seconds
    log: list[str] = field(default_factory=list)
    journal: list[dict] = field(default_factory=list)

    @property
    def installed(self) -> bool:
        return bool(self.versions.get("cloudpaging"))

    @property
    def repository_ok(self) -> bool:
        return all(app["status"] == PUBLISHED for app in self.applications)


@dataclass
class DeploymentState:
    key: str
    schema: str  # the StreamDB schema's major version
    servers: dict[str, ServerState]
    op_seconds: float
    schema_upgrading: bool = False
    backup_schema: str = ""  # the schema of the StreamDB backup taken before a major upgrade

    def health_of(self, server: ServerState) -> tuple[bool, str]:
        """Whether the server would serve, and why not (the body of a failed health check)."""
        if not server.installed:
            return False, "Cloudpaging Server is not installed"
        if not server.running:
            return False, "the Cloudpaging Server service is stopped"
        if not server.configured:
            return False, "Cloudpaging Server is not configured"
        if self.schema_upgrading:
            return False, "the StreamDB schema is being upgraded"
        if major(server.versions["cloudpaging"]) != self.schema:
            return False, (
                f"server version {server.versions['cloudpaging']} does not match the StreamDB schema {self.schema}"
            )
        return True, "ok"


def new_state(spec: DeploymentSpec) -> DeploymentState:
    return DeploymentState(
        key=spec.key, schema=major(spec.versions["cloudpaging"]), op_seconds=spec.op_seconds,
        servers={server.hostname: new_server(spec, server) for server in spec.servers},
    )


def new_server(spec: DeploymentSpec, server: ServerSpec) -> ServerState:
    return ServerState(
        hostname=server.hostname, role=server.role, versions=dict(spec.versions),
        applications=[{"name": name, "status": PUBLISHED} for name in spec.applications],
    )


class Store:
    """One JSON file per deployment in `folder`, replaced whole on each save (write, then rename:
    a crash leaves the old file or the new one, never half of one). Deployment logs grow fast, so
    each server's log is a file of its own that lines are appended to, not part of the JSON."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def _log_path(self, key: str, hostname: str) -> Path:
        return self.folder / f"{key}.logs" / f"{hostname}.log"

    def load(self, spec: DeploymentSpec) -> DeploymentState:
        """The saved state, with servers added or dropped to match the spec; a new one if none."""
        path = self._path(spec.key)
        if not path.exists():
            return new_state(spec)
        raw = json.loads(path.read_text())
        servers = {name: ServerState(**server) for name, server in raw.pop("servers").items()}
        state = DeploymentState(**raw, servers={})
        for server in spec.servers:
            state.servers[server.hostname] = servers.get(server.hostname) or new_server(spec, server)
            log = self._log_path(spec.key, server.hostname)
            if log.exists():
                state.servers[server.hostname].log = log.read_text().splitlines()[-LOG_LINES_KEPT:]
        # An operation cut short by the restart left the schema half-upgraded: the lab reads that
        # as the upgrade having failed, and the engineer runs it again.
        state.schema_upgrading = False
        return state

    def save(self, state: DeploymentState) -> None:
        servers = {name: {key: value for key, value in vars(server).items() if key != "log"}
                   for name, server in state.servers.items()}
        path = self._path(state.key)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({**vars(state), "servers": servers}))
        os.replace(temporary, path)

    def forget_logs(self, key: str) -> None:
        shutil.rmtree(self.folder / f"{key}.logs", ignore_errors=True)

    def append_log(self, key: str, hostname: str, line: str) -> None:
        path = self._log_path(key, hostname)
        path.parent.mkdir(exist_ok=True)
        with path.open("a") as log:
            log.write(line + "\n")
