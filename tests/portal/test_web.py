"""The web as `make run` starts it is several processes behind one port (`portal.web`): a
process that dies is replaced while the others serve on, and a stop ends them all."""

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.conftest import wait_for


def _workers(arbiter: int) -> set[int]:
    workers = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if parent == arbiter:
                workers.add(int(entry))
    return workers


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/accounts/login/", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def two_processes(monkeypatch):
    monkeypatch.setenv("WEB_PROCESSES", "2")


def test_a_web_process_that_dies_is_replaced_and_the_portal_serves_on(two_processes, web_server):
    url, process = web_server
    first = wait_for(lambda: len(_workers(process.pid)) == 2 and _workers(process.pid), timeout=30)

    os.kill(min(first), signal.SIGKILL)

    assert _answers(url)  # the other one serves meanwhile
    replaced = wait_for(lambda: len(_workers(process.pid)) == 2 and _workers(process.pid), timeout=30)
    assert min(first) not in replaced and max(first) in replaced
    assert _answers(url)


def test_a_stop_ends_every_web_process(two_processes, web_server):
    url, process = web_server
    workers = wait_for(lambda: len(_workers(process.pid)) == 2 and _workers(process.pid), timeout=30)

    process.terminate()
    process.wait(timeout=30)

    assert not _answers(url)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)


def test_a_second_portal_on_a_port_in_use_is_refused(web_server):
    """Each process listens with SO_REUSEPORT: without the check, a second portal on the same
    port would share the first one's connections without a word."""
    url, _ = web_server
    bind = url.removeprefix("http://")

    second = subprocess.run([sys.executable, "-m", "portal.web", "--bind", bind, "--processes", "1"],
                            capture_output=True, text=True, timeout=60)

    assert second.returncode != 0
    assert f"{bind} is in use" in second.stderr
    assert _answers(url)  # the first one serves on
