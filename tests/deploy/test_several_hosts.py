"""The portal outgrows one machine: two web hosts behind a TLS proxy, two worker hosts, one for
beat, PostgreSQL and Redis on a host of their own, the customer's (lab) servers on another, all
started with docker-compose.yml's own commands (tests/deploy/deployment.py). `make hosts` runs
this test alone.

During a live upgrade watched by several people: one web host is cut off and the watchers go on
through the other one, missing nothing; the worker host running a step dies and the other worker
runs the engineer's retry without any server applying an operation twice; Redis restarts and
no event is lost. At the end the web host left stands still for two seconds, and what it was
asked meanwhile is answered when it wakes.
"""

import json
import re
import shutil
import ssl
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import wait_for
from tests.deploy.deployment import LAB_PORT, Deployment, missing
from tests.deploy.hosts import can_make_hosts
from upgrades.lab.control import LabControl

WATCHERS = 12
why_not = can_make_hosts() or missing()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(why_not), reason=f"several hosts cannot run here: {why_not}")]


@pytest.fixture
def hosts(request):
    folder = Path(tempfile.mkdtemp(prefix="portal-hosts-", dir="/var/tmp"))  # not /tmp: each host has its own
    folder.chmod(0o755)
    failed = request.session.testsfailed
    with Deployment(folder) as deployment:
        yield deployment
        if request.session.testsfailed > failed:
            print(deployment.logs())  # the end of what each process printed, for the failure's report
            print(f"Every log in full: {folder}/<host>/")
            return
    shutil.rmtree(folder, ignore_errors=True)


class Watcher(threading.Thread):
    """A browser's EventSource on the run's live page: on a dropped stream it reconnects (to
    whichever web host the proxy chooses) with Last-Event-ID, until the stream says `end`."""

    def __init__(self, url: str, cookies: httpx.Cookies, authority: ssl.SSLContext):
        super().__init__(daemon=True)
        self.url, self.cookies, self.authority = url, cookies, authority
        self.stopped = threading.Event()
        self.seqs: list[int] = []
        self.connections = 0
        self.connected = threading.Event()
        self.ended = threading.Event()
        self.refused: list[str] = []

    def run(self) -> None:
        while not (self.ended.is_set() or self.stopped.is_set()):
            headers = {"Last-Event-ID": str(self.seqs[-1])} if self.seqs else {}
            try:
                with httpx.Client(cookies=self.cookies, verify=self.authority,
                                  timeout=httpx.Timeout(10, read=30)) as client, \
                        client.stream("GET", self.url, headers=headers) as answer:
                    if answer.status_code != 200:
                        self.refused.append(f"{answer.status_code}")
                        time.sleep(0.5)
                        continue
                    self.connections += 1
                    self.connected.set()
                    self._read(answer)
            except httpx.HTTPError:
                time.sleep(0.3)  # EventSource waits `retry` ms and tries again

    def _read(self, answer: httpx.Response) -> None:
        seq, kind = None, None
        for line in answer.iter_lines():
            if line.startswith("id: "):
                seq = int(line[4:])
            elif line.startswith("event: "):
                kind = line[7:]
            elif line == "":
                if kind == "end":
                    self.ended.set()
                    return
                if seq is not None:
                    self.seqs.append(seq)
                seq, kind = None, None


class Unavailable(Exception):
    """The proxy found no web host to answer (a person would see it and reload)."""


class Person:
    """Someone using the portal's API through the proxy with their key."""

    def __init__(self, url: str, key: str, authority: ssl.SSLContext):
        # A connection for each call: one kept open would be closed by the proxy with the web
        # host it led to, and httpx, unlike a browser, does not send the request again.
        self.client = httpx.Client(base_url=f"{url}/api/v1/", verify=authority, timeout=30,
                                   headers={"Authorization": f"Token {key}"},
                                   limits=httpx.Limits(max_keepalive_connections=0))

    def run(self, run_id: int) -> dict:
        return self._answer(self.client.get(f"runs/{run_id}/"))

    def post(self, run_id: int, move: str, **body) -> dict:
        return self._answer(self.client.post(f"runs/{run_id}/{move}/", json=body))

    @staticmethod
    def _answer(answer: httpx.Response) -> dict:
        if answer.status_code in (502, 503, 504):
            raise Unavailable(f"{answer.status_code} from the proxy")
        request = answer.request
        assert answer.status_code < 300, f"{request.method} {request.url}: {answer.status_code} {answer.text}"
        return answer.json()


def step(run: dict, key: str) -> dict:
    return next(step for step in run["steps"] if step["key"] == key)


def test_a_live_upgrade_goes_on_through_a_lost_web_host_a_dead_worker_host_and_a_redis_restart(hosts, request):
    python = str(Path(hosts.env["PATH"].split(":")[0]) / "python")
    deploy_check = hosts.one_off("beat", "check", [python, "manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert "System check identified no issues" in deploy_check

    made = hosts.one_off("beat", "world", [python, "-m", "tests.deploy.world", str(LAB_PORT)])
    world = json.loads(made.splitlines()[-1])
    run_id = world["run"]
    hosts.start_lab(op_seconds=0.2)
    lab = LabControl(f"http://{hosts.lab.address}:{LAB_PORT}")
    wait_for(lambda: _in_pool(lab), timeout=60, interval=0.2)  # every lab server in its load balancer's pool
    authority = ssl.create_default_context(cafile=hosts.authority)
    engineer, administrator, lead = (Person(hosts.url, world["keys"][who], authority)
                                     for who in ("engineer", "administrator", "lead"))

    # The lead logs in through the proxy; the session cookie is a secure one, the static files hashed.
    browser = httpx.Client(base_url=hosts.url, verify=authority, timeout=30)
    page = browser.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    logged_in = browser.post("/accounts/login/", data={"csrfmiddlewaretoken": token, "username": world["lead"],
                                              "password": world["password"]},
                             headers={"Referer": f"{hosts.url}/accounts/login/"})
    assert logged_in.status_code == 302, logged_in.text[:2000]
    assert "secure" in logged_in.headers["set-cookie"].lower()
    stylesheet = re.search(r'href="([^"]*/portal/portal\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet, re.findall(r'href="([^"]+)"', page.text)
    assert browser.get(stylesheet.group(1)).status_code == 200

    watchers = [Watcher(f"{hosts.url}/runs/{run_id}/events/", browser.cookies, authority) for _ in range(WATCHERS)]
    request.addfinalizer(lambda: [watcher.stopped.set() for watcher in watchers])
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        assert watcher.connected.wait(30), watcher.refused

    engineer.post(run_id, "preflight")
    # The preflight asks every lab server, from a worker host.
    wait_for(lambda: all(item["done"] for item in engineer.run(run_id)["readiness"]), timeout=60, interval=0.2)
    engineer.post(run_id, "start")

    # 1. A web host is cut off in the middle of the run.
    wait_for(lambda: engineer.run(run_id)["state"] == "running" and sum(len(w.seqs) for w in watchers) > WATCHERS * 3,
             timeout=60, interval=0.2)
    hosts.webs[0].cut()

    # 2. The worker host running the first installation dies in the middle of it.
    lab.set_op_seconds(4.0)
    people = Playing(engineer, administrator, lead, run_id, world["lead_name"])
    people.until(lambda run: step(run, "install-g1")["state"] == "running", what="the first installation")
    busy = _worker_of(hosts, run_id, "install-g1")
    dead = next(host for host in hosts.workers if busy.startswith(f"celery@{host.name}/"))
    dead.kill()
    # The sweep finds the dead worker's step by its heartbeat.
    wait_for(lambda: step(engineer.run(run_id), "install-g1")["state"] == "interrupted", timeout=60, interval=0.2)
    lab.set_op_seconds(0.2)
    # The servers finish what they were doing (an installer outlives the connection that started it).
    wait_for(lambda: not any(member["busy"] for member in lab.status()["members"]), timeout=30, interval=0.2)
    engineer.post(run_id, "take")
    engineer.post(run_id, "retry", step=step(engineer.run(run_id), "install-g1")["id"],
                  reason="The worker's machine died; the servers are fine")

    # 3. Redis restarts while the run goes on.
    people.until(lambda run: step(run, "install-g1")["state"] == "succeeded", what="the retried installation")
    hosts.restart_redis()
    run = people.until(lambda run: run["state"] == "completed", what="the end of the run", timeout=240)

    install = step(run, "install-g1")
    assert install["attempts"] == 2
    with psycopg.connect(hosts.env["DATABASE_URL"]) as database:
        last, count = database.execute(
            "SELECT max(seq), count(*) FROM upgrades_liveevent WHERE run_id = %s", [run_id]).fetchone()
        retried_by = database.execute(
            "SELECT worker FROM upgrades_step WHERE run_id = %s AND key = 'install-g1'", [run_id]).fetchone()[0]
    assert last == count
    assert not retried_by.startswith(f"celery@{dead.name}/")
    for watcher in watchers:
        assert watcher.ended.wait(60), "a watcher's stream did not end"
        assert watcher.seqs == list(range(1, last + 1)), "a watcher missed or saw twice an event"
    assert max(watcher.connections for watcher in watchers) > 1  # someone was on the web host cut off

    # 4. The web host left stands still for a moment, as a busy machine does: the proxy waits
    # for it, and the page it was asked for comes when it wakes, not a 502.
    with ThreadPoolExecutor(1) as looking:
        looked = looking.submit(engineer.run, run_id)
        hosts.webs[1].stall(2.0)
        assert looked.result(timeout=30)["state"] == "completed"

    print(f"Restarted by their restart policy: {hosts.restarts or 'none'}")
    planned = json.loads(hosts.one_off("beat", "planned", [python, "-m", "tests.deploy.world", "planned", str(run_id)]))
    applied = Counter((entry["hostname"], entry["operation"]) for entry in lab.journal() if entry["outcome"] == "ok")
    assert applied == {(hostname, operation): count for hostname, operation, count in planned}


class Playing:
    """The people on the live page, through the API: the engineer and the customer's
    administrator confirm each functionality test as it waits, the lead signs off at the end."""

    def __init__(self, engineer: Person, administrator: Person, lead: Person, run_id: int, lead_name: str):
        self.engineer, self.administrator, self.lead, self.run_id = engineer, administrator, lead, run_id
        self.lead_name = lead_name

    def until(self, reached, *, what: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                run = self.engineer.run(self.run_id)
                if reached(run):
                    return run
                if run["state"] == "paused":
                    failed = [(step["key"], step["state"], step["error"]) for step in run["steps"]
                              if step["state"] in ("failed", "interrupted")]
                    raise AssertionError(f"the run paused waiting for {what}: {failed}")
                self._play(run)
            except (httpx.TransportError, Unavailable):
                # The web host answering was cut off mid-request: look again, as a person
                # reloads, and do only what is still to do.
                time.sleep(0.5)
        raise AssertionError(f"waited {timeout:g} s for {what}")

    def _play(self, run: dict) -> None:
        waiting = next((step for step in run["steps"] if step["state"] == "waiting"), None)
        if waiting is not None and waiting["kind"] == "sign_off":
            self.lead.post(self.run_id, "sign-off", name=self.lead_name, comment="Tested from the library PCs")
        elif waiting is not None:
            if not waiting["confirmed_by_engineer"]:
                self.engineer.post(self.run_id, "confirm", step=waiting["id"])
            if not waiting["confirmed_by_customer"]:
                self.administrator.post(self.run_id, "confirm", step=waiting["id"], note="Adobe Reader launches")
        else:
            time.sleep(0.2)


def _in_pool(lab: LabControl) -> bool:
    try:
        return all(member["in_pool"] for member in lab.status()["members"])
    except Exception:  # not listening yet
        return False


def _worker_of(hosts: Deployment, run_id: int, key: str) -> str:
    with psycopg.connect(hosts.env["DATABASE_URL"]) as database:
        return database.execute("SELECT worker FROM upgrades_step WHERE run_id = %s AND key = %s",
                                [run_id, key]).fetchone()[0]
