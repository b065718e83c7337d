"""Hosts on this machine: network namespaces on one bridge, each with its own address, host name
and /tmp, as machines on one network would be. Every address is in a /24 of 10.0.0.0/8 that no
route of the machine uses; nothing here reaches beyond the bridge.

`Network` makes the bridge and the hosts and takes them down again; `Host.start` runs a command
on a host (as a container would: its own host name, an empty /tmp); `Host.cut` takes its link
down, `Host.kill` kills everything running on it.
"""

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


def can_make_hosts() -> str:
    """Empty when this machine can make the hosts; else why not, in words."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "unshare", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "`ip netns` does not work here"
    return ""


def _ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip", *(("-n", namespace) if namespace else ()), *args]
    subprocess.run(command, check=True, capture_output=True, timeout=10)


def _free_subnet() -> str:
    """A 10.x.y.0/24 that no address or route of this machine uses yet."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    for third in range(os.getpid() % 200, os.getpid() % 200 + 50):
        prefix = f"10.231.{third % 250}"
        if f"{prefix}." not in routes:
            return prefix
    raise RuntimeError("no free 10.231.x.0/24 for the hosts")


@dataclass(eq=False)
class Host:
    name: str
    address: str
    namespace: str
    folder: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    dead: bool = False

    @property
    def tmp(self) -> Path:
        return self.folder / "tmp"

    def command(self, argv: list[str]) -> list[str]:
        """`argv` on this host: in its network namespace, with its own host name and its own /tmp
        (shared by every command on the host, as a container's)."""
        script = 'mount --bind "$1" /tmp && hostname "$0" && shift && exec "$@"'
        return ["ip", "netns", "exec", self.namespace, "unshare", "--uts", "--mount", "sh", "-c", script,
                self.name, str(self.tmp), *argv]

    def start(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path,
              user: str | None = None) -> subprocess.Popen:
        """Start `argv` on this host, what it prints in `<folder>/<name>.log`."""
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(self.command(argv), env=env | {"HOSTNAME": self.name}, cwd=cwd,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        log.close()
        process.label = name
        self.processes.append(process)
        return process

    def run(self, argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 300,
            user: str | None = None) -> subprocess.CompletedProcess:
        """Run `argv` on this host to its end; what it printed is in the answer."""
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        return subprocess.run(self.command(argv), env=env | {"HOSTNAME": self.name}, cwd=cwd, timeout=timeout,
                              capture_output=True, text=True)

    def cut(self) -> None:
        """Unplug the host: its link goes down; what runs on it goes on, unreachable."""
        _ip("link", "set", "eth0", "down", namespace=self.namespace)

    def kill(self) -> None:
        """Everything running on the host dies at once (SIGKILL), as when the machine fails."""
        self.dead = True
        self._signal(signal.SIGKILL)
        for process in self.processes:
            process.wait(timeout=10)

    def stall(self, seconds: float) -> None:
        """Everything running on the host stands still for `seconds` (SIGSTOP, then SIGCONT), as
        on a machine busy with something else: connections are taken, nothing is answered."""
        self._signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            self._signal(signal.SIGCONT)

    def _signal(self, number: signal.Signals) -> None:
        pids = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), number)
            except ProcessLookupError:
                pass

    def stop(self, process: subprocess.Popen, *, timeout: float = 20) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Network:
    """A bridge on this machine (the test's own address on it ends in .1) and the hosts on it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.prefix = _free_subnet()
        self.tag = f"{os.getpid() % 100000:05d}"
        self.bridge = f"ptb{self.tag}"
        self.gateway = f"{self.prefix}.1"
        self.hosts: dict[str, Host] = {}

    def __enter__(self) -> "Network":
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        return self

    def add(self, name: str, last: int) -> Host:
        namespace = f"portal-{self.tag}-{name}"
        outside = f"pt{self.tag}h{last}"
        subprocess.run(["ip", "netns", "add", namespace], check=True, capture_output=True, timeout=10)
        _ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", outside, "master", self.bridge, "up")
        _ip("addr", "add", f"{self.prefix}.{last}/24", "dev", "eth0", namespace=namespace)
        _ip("link", "set", "eth0", "up", namespace=namespace)
        _ip("link", "set", "lo", "up", namespace=namespace)
        folder = self.folder / name
        folder.mkdir(mode=0o755, exist_ok=True)
        (folder / "tmp").mkdir(mode=0o1777, exist_ok=True)
        (folder / "tmp").chmod(0o1777)
        host = Host(name=name, address=f"{self.prefix}.{last}", namespace=namespace, folder=folder)
        self.hosts[name] = host
        return host

    def __exit__(self, *exc) -> None:
        for host in self.hosts.values():
            for process in host.processes:
                if process.poll() is None:
                    try:
                        os.killpg(process.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
        deadline = time.monotonic() + 15
        for host in self.hosts.values():
            for process in host.processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            host.kill()
            subprocess.run(["ip", "netns", "delete", host.namespace], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, timeout=10)
