"""The portal on several hosts, started with docker-compose.yml's own commands.

    proxy (HAProxy, TLS) -> web1, web2 (portal.web)          lab (the lab fleet: the customer's servers)
                            worker1, worker2 (Celery steps)  ^ driver calls over HTTP
                            beat (beat, dispatcher, prober, the one-off migrate)
                            data (PostgreSQL, Redis)

Each service of docker-compose.yml runs its `command`, unchanged, on its host; readiness is the
service's own `healthcheck` run on that host. PostgreSQL and Redis stand in for the images
named there: Debian's PostgreSQL in a cluster of its own, Redis with compose's command. The
settings are production's (.env.example): DEBUG off, hashed static files, secure cookies
behind a TLS-terminating proxy.
"""

import base64
import glob
import ipaddress
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.deploy.hosts import Host, Network

PROJECT_DIR = Path(__file__).resolve().parents[2]
COMPOSE = PROJECT_DIR / "docker-compose.yml"
LAB_PORT = 9300  # the lab deployment's load balancer (the demo's are on 91xx); its servers after it


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL server programs, the newest installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda path: int(Path(path).parts[4]))
    return Path(found[-1]).parent if found else None


def missing() -> str:
    """Empty when this machine has what the hosts run; else what is missing."""
    if postgres_bin() is None:
        return "Debian's postgresql is not installed"
    for program in ("redis-server", "haproxy"):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install {program.split('-')[0]})"
    return ""


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _argv(command) -> list[str]:
    """A compose command or healthcheck test as an argv (`$$` is compose's escaped `$`)."""
    if isinstance(command, list):
        command = [part.replace("$$", "$") for part in command]
    else:
        command = command.replace("$$", "$")
    if isinstance(command, str):
        return ["sh", "-c", command]
    if command[0] == "CMD":
        return list(command[1:])
    if command[0] == "CMD-SHELL":
        return ["sh", "-c", command[1]]
    return list(command)


def _certificate(folder: Path, address: str) -> tuple[Path, Path]:
    """A test authority and the proxy's certificate for `address` signed by it: the authority's
    file (for the clients) and the proxy's (certificate, then key, for HAProxy)."""
    now = datetime.now(timezone.utc)

    def signed(subject: str, key, issuer, issuer_key, *, authority: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True))
        if not authority:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    authority_key = ec.generate_private_key(ec.SECP256R1())
    authority_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test authority of the hosts")])
    authority = signed("Test authority of the hosts", authority_key, authority_name, authority_key, authority=True)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = signed(address, key, authority_name, authority_key, authority=False)
    authority_file, proxy_file = folder / "authority.pem", folder / "proxy.pem"
    authority_file.write_bytes(authority.public_bytes(serialization.Encoding.PEM))
    proxy_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return authority_file, proxy_file


HAPROXY = """\
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    # A request that cannot reach its web host goes to the other one.
    retries 3
    option redispatch
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    option forwardfor
frontend portal
    bind {address}:443 ssl crt {certificate}
    http-request set-header X-Forwarded-Proto https
    default_backend web
backend web
    balance roundrobin
    # A web host that takes no connections leaves the pool within a second (a check's connect
    # waits `inter` at most), and the streams it served are closed: the browsers reconnect
    # (Last-Event-ID) to a host that answers. A host that is only slow to answer (its one
    # process busy for a moment) is waited for, up to `timeout check`: were it taken out, the
    # requests it was answering would end in 502s, and with the other host gone, so would all.
    # /healthz/web asks only what serving people needs (the database), not Redis.
    option httpchk
    http-check send meth GET uri /healthz/web ver HTTP/1.1 hdr Host {address}
    timeout check 5s
    default-server inter 400ms fall 2 rise 2 on-marked-down shutdown-sessions
{servers}
"""


class Deployment:
    """Every host and process of the portal on several machines; `url` is the proxy's."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.network = Network(folder)
        self.services = compose()
        self.bin = postgres_bin()
        self.running: dict[tuple[Host, str], subprocess.Popen] = {}
        self.restarts: list[str] = []
        self._watching = threading.Event()

    def __enter__(self) -> "Deployment":
        self.network.__enter__()
        try:
            self._up()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._watching.set()
        self.network.__exit__(*exc)

    # -- compose's restart policy ---------------------------------------------------------------

    def _watch(self) -> None:
        """`restart: unless-stopped`: a service whose process ended is started again on its host,
        as Docker does, unless its host is dead."""
        while not self._watching.wait(0.5):
            for (host, name), process in list(self.running.items()):
                if process.poll() is not None and not host.dead and not self._watching.is_set():
                    with (host.folder / f"{name}.log").open("a") as log:
                        log.write(f"\n[the deployment] {name} ended with {process.returncode}: starting it again\n")
                    self.running[(host, name)] = host.start(name, _argv(self.services[name]["command"]),
                                                             env=self.env, cwd=PROJECT_DIR)
                    self.restarts.append(f"{name} on {host.name}")

    # -- The hosts --------------------------------------------------------------------------------

    def _up(self) -> None:
        add = self.network.add
        self.proxy, self.data, self.lab = add("proxy", 2), add("data", 10), add("lab", 40)
        self.webs = [add("web1", 11), add("web2", 12)]
        self.workers = [add("worker1", 21), add("worker2", 22)]
        self.beat = add("beat", 30)
        self.url = f"https://{self.proxy.address}"
        self.authority, certificate = _certificate(self.folder, self.proxy.address)
        self.tls = ssl.create_default_context(cafile=self.authority)
        self.env = self._environment()

        self._postgres()
        self.redis = self._redis()
        self.one_off("beat", "collectstatic", [sys.executable, "manage.py", "collectstatic", "--noinput"])
        self.one_off("beat", "migrate", _argv(self.services["migrate"]["command"]))
        self._service(self.beat, "dispatcher")
        self._service(self.beat, "beat")
        self._service(self.beat, "prober")
        for host in self.webs:
            self._service(host, "web")
        for host in self.workers:
            self._service(host, "worker")
        self._proxy(certificate)
        threading.Thread(target=self._watch, daemon=True).start()

    def _environment(self) -> dict[str, str]:
        """Production's settings (.env.example), on these hosts."""
        return {
            "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "DATABASE_URL": f"postgres://postgres@{self.data.address}:5432/portal",
            "REDIS_URL": f"redis://{self.data.address}:6379/0",
            "ALLOWED_HOSTS": f"{self.proxy.address},127.0.0.1",
            "SITE_URL": self.url,
            "BEHIND_TLS_PROXY": "1", "FORWARDED_ALLOW_IPS": self.proxy.address,
            "DATABASE_POOL": "1",
            "STATIC_ROOT": str(self.folder / "static"),
            "EMAIL_HOST": self.network.gateway, "EMAIL_PORT": "1",  # nobody answers: mail waits in the outbox
            "LAB_ADDRESS": self.lab.address,
            # A step whose worker died is found within seconds, not half a minute.
            "RUN_HEARTBEAT_SECONDS": "1", "RUN_SWEEP_SECONDS": "1", "RUN_STALE_AFTER_SECONDS": "5",
            "WEB_PROCESSES": "1",
        }

    def one_off(self, host: str, name: str, argv: list[str]) -> str:
        done = self.network.hosts[host].run(argv, env=self.env, cwd=PROJECT_DIR)
        assert done.returncode == 0, f"{name} on {host} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def _service(self, host: Host, name: str, *, healthy: bool = True) -> subprocess.Popen:
        """docker-compose.yml's service `name` on `host`, its command unchanged; back once its
        own health check passes there."""
        service = self.services[name]
        process = host.start(name, _argv(service["command"]), env=self.env, cwd=PROJECT_DIR)
        if service.get("restart") == "unless-stopped":
            self.running[(host, name)] = process
        if healthy and "healthcheck" in service:
            self.wait_healthy(host, name, process)
        return process

    def wait_healthy(self, host: Host, name: str, process: subprocess.Popen, timeout: float = 120) -> None:
        check = _argv(self.services[name]["healthcheck"]["test"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{name} on {host.name} stopped:\n{host.log(name)[-3000:]}"
            if host.run(check, env=self.env, cwd=PROJECT_DIR, timeout=60).returncode == 0:
                return
            time.sleep(0.5)
        raise AssertionError(f"{name} on {host.name} is not healthy:\n{host.log(name)[-3000:]}")

    def _postgres(self) -> None:
        folder = self.data.folder / "postgres"
        folder.mkdir()
        shutil.chown(folder, "postgres", "postgres")
        folder.chmod(0o700)
        initdb = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / "initdb"), "-D", str(folder), "-U", "postgres",
             "-A", "trust", "--no-sync", "-E", "UTF8"], capture_output=True, text=True, timeout=120)
        assert initdb.returncode == 0, initdb.stdout + initdb.stderr
        with (folder / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.network.prefix}.0/24 trust\n")
        self.postgres = self.data.start("postgres", [
            str(self.bin / "postgres"), "-D", str(folder), "-c", f"listen_addresses={self.data.address}",
            "-c", f"unix_socket_directories={folder}", "-c", "fsync=off", "-c", "max_connections=300",
        ], env=self.env, cwd=folder, user="postgres")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = self.data.run([str(self.bin / "pg_isready"), "-h", self.data.address, "-U", "postgres"],
                                  env=self.env, cwd=PROJECT_DIR)
            if ready.returncode == 0:
                break
            time.sleep(0.2)
        created = self.data.run([str(self.bin / "createdb"), "-h", self.data.address, "-U", "postgres", "portal"],
                                env=self.env, cwd=PROJECT_DIR)
        assert created.returncode == 0, created.stderr

    def _redis(self) -> subprocess.Popen:
        """compose's Redis command (append-only: what it held survives a restart), on the data host."""
        folder = self.data.folder / "redis"
        folder.mkdir(exist_ok=True)
        argv = [*_argv(self.services["redis"]["command"]), "--bind", self.data.address, "--protected-mode", "no",
                "--dir", str(folder)]
        process = self.data.start("redis", argv, env=self.env, cwd=folder)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            check = self.data.run(["redis-cli", "-h", self.data.address, "ping"], env=self.env, cwd=PROJECT_DIR)
            if check.stdout.strip() == "PONG":
                return process
            time.sleep(0.1)
        raise AssertionError("Redis did not answer:\n" + self.data.log("redis"))

    def restart_redis(self) -> None:
        """Redis stops (SIGTERM, as `docker compose restart redis`) and starts again."""
        self.data.stop(self.redis)
        self.redis = self._redis()

    def _proxy(self, certificate: Path) -> None:
        servers = "\n".join(f"    server {host.name} {host.address}:8000 check" for host in self.webs)
        config = self.folder / "haproxy.cfg"
        config.write_text(HAPROXY.format(address=self.proxy.address, certificate=certificate, servers=servers))
        self.haproxy = self.proxy.start("haproxy", ["haproxy", "-db", "-f", str(config)], env=self.env,
                                        cwd=self.folder)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", verify=self.tls, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.haproxy.poll() is None, self.proxy.log("haproxy")
            time.sleep(0.2)
        raise AssertionError("the proxy does not answer:\n" + self.proxy.log("haproxy"))

    def start_lab(self, *, op_seconds: float) -> None:
        """The lab fleet on a host of its own, for the lab deployments registered so far."""
        self.lab_process = self.lab.start("lab", [
            sys.executable, "manage.py", "labfleet", "--data-dir", str(self.lab.folder / "state"),
            "--op-seconds", str(op_seconds), "--watch", "0",
            # Health checks as quick as the run's steps: a group back from its installation is
            # in the pool again before the tests that count on it (as in the engine's tests).
            "--check-interval", "0.1", "--check-timeout", "1", "--rise", "1", "--fall", "2",
        ], env=self.env, cwd=PROJECT_DIR)

    def logs(self) -> str:
        """The last lines each process printed, host by host."""
        parts = []
        for host in self.network.hosts.values():
            for log in sorted(host.folder.glob("*.log")):
                parts.append(f"--- {host.name}/{log.name}\n{log.read_text(errors='replace')[-6000:]}")
        return "\n".join(parts)
