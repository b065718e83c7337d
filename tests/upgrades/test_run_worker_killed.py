"""A worker killed (SIGKILL) in the middle of a step: the sweep finds the step by its stale
heartbeat, interrupts it and pauses the run; nothing runs again by itself. The engineer retries,
a new worker completes the run, and no lab server applied any operation twice."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from tests.conftest import QUEUE, QUEUES, wait_for
from tests.upgrades.runs import applied, confirmed_window, drive, lab_deployment, planned_operations, start
from upgrades.choices import ProbeState, RunState, StepState
from upgrades.models import AvailabilityProbe, LiveEvent, Release
from upgrades.services.availability import probe_stop
from upgrades.services.plans import run_create
from upgrades.services.engine import step_execute, steps_sweep
from upgrades.services.runs import step_confirm

PROJECT_DIR = Path(__file__).resolve().parents[2]
STALE_AFTER = timedelta(seconds=3)
# `celery -A portal worker`, on this test process's own queue for what it receives and sends.
WORKER = """
from portal.celery import app
app.conf.task_default_queue = "{queue}"
app.worker_main(["worker", "-P", "threads", "-c", "3", "-n", "{name}@%h", "--without-mingle", "--without-gossip",
                 "-Q", "{queues}", "--loglevel", "INFO"])
"""


def _database_url() -> str:
    """The test database, for a worker process of its own: DATABASE_URL's server (a unix socket
    folder for the embedded PostgreSQL), this process's test database."""
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture
def worker_process(transactional_db, tmp_path):
    """Start real `celery worker` processes on the test database and this test's queue. Threads,
    not solo: the prober holds one thread for the whole run. Each heartbeats every second."""
    started: list[tuple[subprocess.Popen, Path]] = []

    def start(name: str) -> subprocess.Popen:
        env = os.environ | {"DATABASE_URL": _database_url(), "RUN_HEARTBEAT_SECONDS": "1"}
        log = tmp_path / f"{name}.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-c", WORKER.format(queue=QUEUE, queues=",".join(QUEUES), name=name)],
                cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            )
        started.append((process, log))
        return process

    yield start
    for probe in AvailabilityProbe.objects.filter(state=ProbeState.RUNNING):
        probe_stop(probe=probe)
    for process, log in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")


def test_a_worker_killed_during_a_step_leaves_it_interrupted_and_a_retry_completes_the_run(
        worker_process, start_lab, northwind, engineer, colleague, customer):
    from upgrades.services.decisions import failure_take, step_retry

    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Lab killed")
    run = run_create(window=confirmed_window(deployment, Release.objects.get(version="9.5.0"), engineer=engineer,
                                             customer=customer))
    first = worker_process("first")
    start(run, engineer=engineer, customer=customer)
    for key in ("checks-before", "checks-others"):
        waiting = wait_for(lambda: run.steps.filter(key=key, state=StepState.WAITING).first(), timeout=60)
        if key == "checks-others":
            lab.control.set_op_seconds(6.0)  # the installation takes six seconds: long enough to die in
        step_confirm(step=waiting, by=engineer)
        step_confirm(step=waiting, by=colleague)
    install = run.steps.get(key="install-g1")
    wait_for(lambda: LiveEvent.objects.filter(step=install, kind="log").exists(), timeout=20)

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    # The servers finish what they were doing (an installer outlives the SSH session that started it).
    wait_for(lambda: not any(member["busy"] for member in lab.control.status()["members"]), timeout=20)
    lab.control.set_op_seconds(0.0)
    wait_for(lambda: steps_sweep(stale_after=STALE_AFTER) == 1, timeout=30)
    install.refresh_from_db()
    run.refresh_from_db()
    assert install.state == StepState.INTERRUPTED and "stopped answering" in install.error
    assert run.state == RunState.PAUSED
    assert steps_sweep(stale_after=STALE_AFTER) == 0
    # The broker may deliver the dead worker's message again: it runs nothing.
    assert step_execute(step_id=install.pk, worker="redelivered") == "not claimed"
    assert install.attempts == 1 and run.steps.get(pk=install.pk).state == StepState.INTERRUPTED

    worker_process("second")
    failure_take(run=run, by=engineer)
    step_retry(step=install, by=engineer, reason="The worker's machine was restarted; the servers are fine")
    run = drive(run, engineer=engineer, administrator=colleague, lead=customer)

    assert run.state == RunState.COMPLETED
    install.refresh_from_db()
    assert install.state == StepState.SUCCEEDED and install.attempts == 2
    assert {server["message"] for server in install.result["servers"]} == {"install already runs 9.5.0"}
    received = [entry for entry in lab.control.journal() if entry["operation"] == "install"]
    assert len(received) == 4  # each of the four servers received one installation, once
    assert applied(lab) == planned_operations(run)
