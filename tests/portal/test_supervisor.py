"""`make run`'s supervisor keeps a live portal up: a child that dies is restarted alone, after a
delay that grows while it keeps dying; past the limit it gives up and stops everything. Real
processes under the real watch loop (`tests/portal/supervised.py`), with quick delays."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from portal import supervisor
from portal.supervisor import Deaths, RestartPolicy
from tests.conftest import wait_for

PROJECT_DIR = Path(__file__).resolve().parents[2]
TIMEOUT = 30
STOP_TIMEOUT = 30

# Each child says its pid first, so that the story can kill it and tell a restart from it.
SLEEPER = [sys.executable, "-c", "import os, time; print('pid', os.getpid(), flush=True); time.sleep(600)"]
# Like the Celery worker: a leader with a pool process in its group, holding the same output.
WITH_POOL = [
    sys.executable,
    "-c",
    "import os, subprocess, sys, time; "
    "pool = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "print('pid', os.getpid(), 'pool', pool.pid, flush=True); time.sleep(600)",
]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]
# Forked from the fork server, it finds Django set up before its first line, as `make run`'s
# children do.
DJANGO_READY = [
    sys.executable,
    "-c",
    "import os, time; from django.apps import apps; "
    "print('pid', os.getpid(), flush=True); print('django set up:', apps.ready, flush=True); time.sleep(600)",
]
# Up for at least half a second each time, then gone.
SHORT_LIVED = [sys.executable, "-c", "import os, time; print('pid', os.getpid(), flush=True); time.sleep(0.5)"]

QUICK = {"first_delay": 0.1, "longest_delay": 0.4, "steady_after": 60, "limit": 3, "window": 600}


class Supervised:
    """The supervisor in a process of its own, its terminal read line by line."""

    def __init__(self, children: dict[str, list[str]], policy: dict, preloaded: list[str]):
        spec = json.dumps({"children": children, "preloaded": preloaded, "policy": policy})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.portal.supervised", spec],
            cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            # As `make run` in a terminal: the leader of its process group, which a Ctrl-C reaches.
            process_group=0,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def terminal(self) -> str:
        return "\n".join(self.lines)

    def said(self, text: str) -> str:
        """The first line of the terminal containing `text`, waiting for it."""
        try:
            return wait_for(lambda: next((line for line in list(self.lines) if text in line), None), timeout=TIMEOUT)
        except AssertionError:
            pytest.fail(f"no line with {text!r} within {TIMEOUT} s:\n{self.terminal()}")

    def pids(self, name: str) -> list[tuple[int, ...]]:
        """What each start of `name` said: its pid, and its pool's when it has one."""
        found = []
        for line in list(self.lines):
            match = re.fullmatch(rf"\s*{name} \| pid (\d+)(?: pool (\d+))?", line)
            if match:
                found.append(tuple(int(pid) for pid in match.groups() if pid))
        return found

    def started(self, name: str, times: int = 1) -> tuple[int, ...]:
        """The pids of `name`'s start number `times`, once it has said them."""
        try:
            return wait_for(lambda: len(self.pids(name)) >= times and self.pids(name)[times - 1], timeout=TIMEOUT)
        except AssertionError:
            pytest.fail(f"{name} did not start {times} time(s) within {TIMEOUT} s:\n{self.terminal()}")

    def exit_status(self) -> int:
        try:
            status = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the supervisor did not stop within {STOP_TIMEOUT} s:\n{self.terminal()}")
        self.reader.join(timeout=5)
        return status

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.exit_status()


@pytest.fixture
def supervise():
    started: list[Supervised] = []

    def start(children: dict[str, list[str]], preloaded: tuple[str, ...] = (), **policy) -> Supervised:
        started.append(Supervised(children, QUICK | policy, list(preloaded)))
        return started[-1]

    yield start
    for each in started:
        if each.process.poll() is None:
            each.process.send_signal(signal.SIGTERM)
            try:
                each.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                each.process.kill()
                each.process.wait()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_it_restarts_only_the_child_that_was_killed(supervise):
    portal = supervise({"web": SLEEPER, "worker": WITH_POOL})
    (web,) = portal.started("web")
    worker, pool = portal.started("worker")

    psutil.Process(worker).send_signal(signal.SIGKILL)

    portal.said("worker was killed by SIGKILL: restarting it in 0.1 s (death 1 of 3 allowed in 10 min)")
    new_worker, new_pool = portal.started("worker", times=2)
    assert new_worker != worker
    assert portal.said("worker restarted (pid") == f"    portal | worker restarted (pid {new_worker})"
    assert alive(new_worker) and alive(new_pool)
    assert portal.pids("web") == [(web,)]  # started once, never touched
    assert alive(web)

    assert portal.stop() == 0
    assert not any(alive(pid) for pid in (web, new_worker, new_pool)), portal.terminal()


def test_a_restart_leaves_nothing_of_the_dead_child_behind(supervise):
    portal = supervise({"worker": WITH_POOL})
    worker, pool = portal.started("worker")

    psutil.Process(worker).send_signal(signal.SIGKILL)

    portal.started("worker", times=2)
    # The pool process was killed with its group, as Ctrl-C would have.
    wait_for(lambda: not alive(pool), timeout=TIMEOUT)
    portal.stop()


def test_a_child_that_keeps_dying_is_given_up_and_everything_stops(supervise):
    portal = supervise({"web": SLEEPER, "dispatcher": CRASHER})
    (web,) = portal.started("web")

    assert portal.exit_status() == 1
    said = portal.terminal()
    # The delay doubles at each death soon after a start, up to the longest.
    assert "dispatcher exited with status 3: restarting it in 0.1 s (death 1 of 3 allowed in 10 min)" in said
    assert "dispatcher exited with status 3: restarting it in 0.2 s (death 2 of 3 allowed in 10 min)" in said
    assert "dispatcher exited with status 3: restarting it in 0.4 s (death 3 of 3 allowed in 10 min)" in said
    assert said.count("dispatcher restarted (pid") == 3
    assert (
        "dispatcher exited with status 3: 4 deaths within 10 min, more than the 3 allowed:"
        " giving up, stopping everything"
    ) in said
    assert said.endswith("portal | Stopped.")
    assert not alive(web)


def test_a_child_that_stayed_up_long_enough_starts_its_back_off_again(supervise):
    portal = supervise({"lab": SHORT_LIVED}, first_delay=0.05, steady_after=0.2, limit=2)

    assert portal.exit_status() == 1
    said = portal.terminal()
    assert "lab exited with status 0: restarting it in 0.05 s (death 1 of 2 allowed in 10 min)" in said
    assert "lab exited with status 0: restarting it in 0.05 s (death 2 of 2 allowed in 10 min)" in said
    assert "lab exited with status 0: 3 deaths within 10 min, more than the 2 allowed" in said


def test_sigterm_during_a_back_off_stops_everything_cleanly(supervise):
    portal = supervise({"web": SLEEPER, "worker": WITH_POOL}, first_delay=600, longest_delay=600)
    (web,) = portal.started("web")
    worker, pool = portal.started("worker")
    psutil.Process(worker).send_signal(signal.SIGKILL)
    portal.said("worker was killed by SIGKILL: restarting it in 10 min (death 1 of 3 allowed in 10 min)")

    assert portal.stop() == 0

    said = portal.terminal()
    assert "SIGTERM: stopping" in said
    assert "worker restarted" not in said
    assert said.endswith("portal | Stopped.")
    assert not any(alive(pid) for pid in (web, worker, pool))


def test_a_preloaded_child_starts_with_django_set_up_and_is_restarted_alone(supervise):
    portal = supervise({"web": SLEEPER, "dispatcher": DJANGO_READY}, preloaded=("dispatcher",))
    (web,) = portal.started("web")
    (dispatcher,) = portal.started("dispatcher")
    assert portal.said("django set up:") == "dispatcher | django set up: True"
    assert os.getpgid(dispatcher) == dispatcher  # a group of its own, as for any child
    everything = psutil.Process(portal.process.pid).children(recursive=True)

    psutil.Process(dispatcher).send_signal(signal.SIGKILL)

    portal.said("dispatcher was killed by SIGKILL: restarting it in 0.1 s (death 1 of 3 allowed in 10 min)")
    (again,) = portal.started("dispatcher", times=2)
    assert again != dispatcher and alive(again)
    assert portal.pids("web") == [(web,)]

    assert portal.stop() == 0
    # The fork server too: nothing of the portal outlives its stop.
    assert not any(alive(pid) for pid in [each.pid for each in everything] + [again]), portal.terminal()


def test_a_preloaded_child_says_how_it_ended(supervise):
    portal = supervise({"dispatcher": CRASHER}, preloaded=("dispatcher",), limit=1)

    assert portal.exit_status() == 1
    said = portal.terminal()
    assert "dispatcher exited with status 3: restarting it in 0.1 s (death 1 of 1 allowed in 10 min)" in said
    assert "dispatcher exited with status 3: 2 deaths within 10 min, more than the 1 allowed" in said


def test_ctrl_c_while_django_is_being_set_up_stops_everything_quietly(supervise):
    portal = supervise({"web": DJANGO_READY}, preloaded=("web",))
    server = wait_for(lambda: next((each for each in psutil.Process(portal.process.pid).children()
                                    if "forkserver" in " ".join(each.cmdline())), None), timeout=TIMEOUT)
    everything = psutil.Process(portal.process.pid).children(recursive=True)

    os.killpg(portal.process.pid, signal.SIGINT)  # what a Ctrl-C in the terminal does

    assert portal.exit_status() == 0
    said = portal.terminal()
    assert "SIGINT: stopping" in said and said.endswith("portal | Stopped.")
    assert "Traceback" not in said and "KeyboardInterrupt" not in said
    assert not any(alive(pid) for pid in [server.pid, *(each.pid for each in everything)]), said


def test_a_start_with_the_migrations_of_the_last_one_starts_no_prepare(tmp_path, capsys):
    fingerprint = supervisor._schema_fingerprint(database=str(tmp_path / "postgres"))
    (tmp_path / supervisor.PREPARED).write_text(fingerprint)

    supervisor._prepare_database([], tmp_path, fingerprint=fingerprint)

    said = capsys.readouterr().out
    assert "Same migrations as at the last start, demo data there: nothing to prepare." in said
    assert "prepare started" not in said


def test_deaths_outside_the_window_are_forgiven():
    policy = RestartPolicy(first_delay=1, longest_delay=30, steady_after=60, limit=2, window=300)
    deaths = Deaths()

    assert deaths.record(at=0, up_for=0, policy=policy) == 1
    assert deaths.record(at=100, up_for=99, policy=policy) == 1  # up long enough: from 1 s again
    assert deaths.record(at=350, up_for=10, policy=policy) == 2  # the first is out of the window
    assert deaths.record(at=360, up_for=10, policy=policy) is None  # three within 300 s


def test_the_delay_doubles_up_to_the_longest():
    policy = RestartPolicy(first_delay=1, longest_delay=30, steady_after=60, limit=100, window=300)
    deaths = Deaths()

    delays = [deaths.record(at=moment, up_for=0, policy=policy) for moment in range(7)]

    assert delays == [1, 2, 4, 8, 16, 30, 30]


def test_the_module_constants_are_what_the_docstring_says():
    policy = RestartPolicy()
    assert (policy.first_delay, policy.longest_delay, policy.steady_after) == (1, 30, 60)
    assert (policy.limit, policy.window) == (5, 300)
    for said in ("(1 s)", "(30 s)", "(60 s)", "RESTART_LIMIT (5)", "(5 min)"):
        assert said in supervisor.__doc__
