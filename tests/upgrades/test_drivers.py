"""The drivers: one interface, `lab` over HTTP and `ssh` over a real SSH server on loopback, doing
the same things to the same lab fleet. Every failure is a failed result with a clear message and
the lines so far, never a hang or an exception in the caller."""

import queue
import socket
import threading
import time
from datetime import UTC, datetime

import asyncssh
import pytest

from tests.conftest import wait_for
from tests.upgrades.conftest import VERSION_9_5, lab_spec
from upgrades.drivers import LogLine, Operation, Target, operate, wait_in_pool
from upgrades.drivers.group import _DONE, BATCH_LINES, batches

ADMIN_1, STREAM_1 = "cpadmin01.lab.example", "cpstream01.lab.example"
PASSWORD = "correct-horse-battery"


def one(target: Target, operation: Operation, **options):
    [result] = operate(targets=[target], operation=operation, timeout=options.pop("timeout", 10), **options)
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["lab", "ssh"])
def driven(request, lab, client_key):
    """The first admin server of the lab, reached through one driver or the other."""
    if request.param == "lab":
        return lab.target(ADMIN_1)
    return lab.ssh_target(ADMIN_1, client_key=client_key)


class TestBothDrivers:
    def test_they_stop_install_configure_and_start_a_server(self, lab, driven):
        seen = []

        results = [
            one(driven, Operation.STOP, on_lines=seen.extend),
            one(driven, Operation.INSTALL, params=VERSION_9_5, on_lines=seen.extend),
            one(driven, Operation.CONFIGURE, on_lines=seen.extend),
        ]

        assert all(result.ok for result in results), [result.message for result in results]
        assert lab.state(ADMIN_1).versions == VERSION_9_5 and lab.state(ADMIN_1).running
        assert any("Installing Cloudpaging Server 9.5.0" in line.text for line in seen)
        assert {line.hostname for line in seen} == {ADMIN_1}

    def test_they_report_versions_health_and_the_repository(self, lab, driven):
        versions, health, repository = (one(driven, operation) for operation in
                                        (Operation.VERSIONS, Operation.HEALTH, Operation.REPOSITORY))

        assert versions.data["versions"] == {"cloudpaging": "9.4.2", "openjdk": "17.0.10", "tomcat": "9.0.85"}
        assert versions.data["running"] is True
        assert health.ok and health.data["healthy"]
        assert repository.ok and repository.data["valid"]

    def test_a_broken_repository_is_reported(self, lab, driven):
        lab.control.inject(ADMIN_1, "break_repository")

        repository = one(driven, Operation.REPOSITORY)

        assert repository.ok and not repository.data["valid"]
        assert "Not published: Adobe Reader" in repository.message

    def test_a_stopped_server_is_unhealthy(self, lab, driven):
        one(driven, Operation.STOP)

        health = one(driven, Operation.HEALTH)

        assert not health.ok and "stopped" in health.message

    def test_they_say_whether_the_load_balancer_has_the_server_in_its_pool(self, lab, driven):
        wait_for(lambda: lab.control.member(ADMIN_1)["in_pool"])  # the balancer's first check
        in_pool = one(driven, Operation.POOL)
        one(driven, Operation.STOP)
        wait_for(lambda: not lab.control.member(ADMIN_1)["in_pool"])

        out = one(driven, Operation.POOL)

        assert in_pool.ok and in_pool.data["in_pool"]
        assert not out.ok and not out.data["in_pool"] and "stopped" in out.message
        # The lab driver asks the lab's balancer; over SSH, the health check it runs answers.
        assert {in_pool.data["source"], out.data["source"]} == {"balancer" if driven.driver == "lab" else "health"}

    def test_an_injected_failure_fails_the_next_operation_with_its_reason_in_the_log(self, lab, driven):
        lab.control.inject(ADMIN_1, "fail_next", reason="disk full: /opt/cloudpaging has 0 bytes free")

        failed, retried = one(driven, Operation.STOP), one(driven, Operation.STOP)

        assert not failed.ok and "disk full" in failed.message
        assert failed.lines[0].endswith("Stopping the Cloudpaging Server service")
        assert any("ERROR: disk full" in line for line in failed.lines)
        assert retried.ok  # only the next operation fails
        assert [entry["outcome"] for entry in lab.control.journal()] == ["failed", "ok"]

    def test_a_hung_operation_times_out_with_the_lines_so_far(self, lab, driven):
        lab.control.inject(ADMIN_1, "hang", reason="installer waits for a dialog")

        result = one(driven, Operation.STOP, timeout=1)

        assert not result.ok and "did not end within 1 s" in result.message
        assert any("Stopping the Cloudpaging Server service" in line for line in result.lines)
        lab.control.clear(ADMIN_1)

    def test_operations_on_a_group_run_concurrently_and_answer_in_order(self, start_lab, client_key):
        lab = start_lab(op_seconds=0.6)
        targets = [lab.target(ADMIN_1), lab.ssh_target(STREAM_1, client_key=client_key)]

        results = operate(targets=targets, operation=Operation.STOP, timeout=10)

        assert [result.hostname for result in results] == [ADMIN_1, STREAM_1]
        assert all(result.ok for result in results)
        journal = lab.control.journal()
        # Both servers had received their stop before either had finished it.
        assert max(entry["at"] for entry in journal) < min(entry["ended"] for entry in journal)


def test_a_started_server_is_in_the_pool_only_once_the_balancer_has_taken_it_back(start_lab):
    spec = lab_spec()
    spec.rise = 20  # a second of good checks, 50 ms apart
    lab = start_lab(spec=spec)
    target = lab.target(ADMIN_1)
    one(target, Operation.STOP)
    wait_for(lambda: not lab.control.member(ADMIN_1)["in_pool"])
    one(target, Operation.START)
    wait_for(lambda: lab.control.member(ADMIN_1)["reason"] == "ok")  # its health check passes again

    health, pool = one(target, Operation.HEALTH), one(target, Operation.POOL)
    out = wait_in_pool(targets=[target], within=10)

    assert health.ok and not pool.ok
    assert "good health checks in a row of the 20 it needs" in pool.message
    assert out == {} and lab.control.member(ADMIN_1)["in_pool"]


def test_over_ssh_a_server_counts_in_the_pool_once_its_health_check_has_passed_as_long_as_the_balancer_needs(
        lab, client_key):
    running, stopped = lab.ssh_target(ADMIN_1, client_key=client_key), lab.ssh_target(STREAM_1, client_key=client_key)
    one(stopped, Operation.STOP)
    started = time.monotonic()
    heard = []

    out = wait_in_pool(targets=[running, stopped], within=3.5, rise_seconds=1.5,
                       on_wait=lambda waiting, waited: heard.append(dict(waiting)) or True)

    assert 3 <= time.monotonic() - started < 8
    assert out == {STREAM_1: "Unhealthy: the Cloudpaging Server service is stopped"}
    assert heard[0][ADMIN_1] == "healthy for 0 s of the 1.5 s the load balancer needs to take it in"
    assert ADMIN_1 not in heard[-1]  # healthy for 1.5 s in a row: as good as in the pool


def test_log_lines_reach_the_callback_in_the_callers_thread(lab):
    threads = set()

    operate(targets=lab.group(1), operation=Operation.STOP,
            on_lines=lambda lines: threads.add(threading.get_ident()), timeout=10)

    assert threads == {threading.get_ident()}


def _printer(lines: queue.SimpleQueue, count: int) -> None:
    for n in range(count):
        lines.put(LogLine(hostname=STREAM_1, operation="install", text=f"line {n}", at=datetime.now(UTC)))


def test_lines_printed_fast_are_handed_over_in_order_in_batches():
    lines = queue.SimpleQueue()
    _printer(lines, 2000)
    lines.put(_DONE)

    handed = list(batches(lines))

    assert [line.text for batch in handed for line in batch] == [f"line {n}" for n in range(2000)]
    assert len(handed) == 2000 // BATCH_LINES
    assert all(len(batch) == BATCH_LINES for batch in handed)


def test_a_line_after_a_quiet_moment_is_handed_over_before_the_next_comes():
    lines, handed = queue.SimpleQueue(), queue.SimpleQueue()
    threading.Thread(target=lambda: [handed.put(batch) for batch in batches(lines)], daemon=True).start()

    lines.put(LogLine(hostname=STREAM_1, operation="install", text="first", at=datetime.now(UTC)))
    first = handed.get(timeout=5)  # handed over alone: nothing more is coming yet
    lines.put(LogLine(hostname=STREAM_1, operation="install", text="second", at=datetime.now(UTC)))
    second = handed.get(timeout=5)
    lines.put(_DONE)

    assert [line.text for line in first] == ["first"]
    assert [line.text for line in second] == ["second"]


def test_an_unreachable_lab_server_fails_with_a_clear_message():
    target = Target(hostname="gone.lab.example", role="stream", driver="lab", address="127.0.0.1", port=free_port())

    result = one(target, Operation.STOP)

    assert not result.ok and "Cannot reach the agent of gone.lab.example" in result.message


def test_an_unreachable_ssh_server_fails_with_a_clear_message(lab):
    target = lab.ssh_target(ADMIN_1, password=PASSWORD)
    target = Target(**{**target.__dict__, "port": free_port()})

    result = one(target, Operation.STOP)

    assert not result.ok and "Cannot reach 127.0.0.1" in result.message


class TestTheSshDriver:
    def test_it_logs_in_with_a_password(self, lab):
        result = one(lab.ssh_target(ADMIN_1, password=PASSWORD), Operation.VERSIONS)

        assert result.ok and result.data["versions"]["cloudpaging"] == "9.4.2"

    def test_a_refused_key_fails_the_operation(self, lab, client_key):
        target = lab.ssh_target(ADMIN_1, client_key=client_key)
        stranger = asyncssh.generate_private_key("ssh-ed25519")
        from portal import credentials

        refused = Target(**{**target.__dict__, "secret_token": credentials.seal(stranger.export_private_key().decode())})

        result = one(refused, Operation.STOP)

        assert not result.ok and "refused the SSH log-in of svc-upgrade: the key was not accepted" in result.message
        assert lab.state(ADMIN_1).running and lab.control.journal() == []

    def test_a_wrong_host_key_is_refused_before_logging_in(self, lab):
        target = lab.ssh_target(ADMIN_1, password=PASSWORD)
        impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()

        result = one(Target(**{**target.__dict__, "host_key": impostor}), Operation.STOP)

        assert not result.ok and "is not the one registered" in result.message
        assert lab.control.journal() == []

    def test_a_server_without_a_registered_host_key_is_not_contacted(self, lab):
        target = lab.ssh_target(ADMIN_1, password=PASSWORD)

        result = one(Target(**{**target.__dict__, "host_key": ""}), Operation.STOP)

        assert not result.ok and "No SSH host key is registered" in result.message

    def test_a_command_that_exits_non_zero_fails_the_operation(self, lab):
        target = lab.ssh_target(ADMIN_1, password=PASSWORD)
        broken = Target(**{**target.__dict__, "commands": {**target.commands, "stop": "systemctl stop cloudpaging"}})

        result = one(broken, Operation.STOP)

        assert not result.ok and "exited with status 127" in result.message
        assert result.lines == ("systemctl: command not found",)

    def test_the_secret_never_appears_in_a_log_line_or_message(self, lab):
        target = lab.ssh_target(ADMIN_1, password=PASSWORD)
        lab.control.inject(ADMIN_1, "fail_next", reason=f"the installer was given the password {PASSWORD}")

        result = one(target, Operation.STOP)

        assert not result.ok
        assert PASSWORD not in result.message and all(PASSWORD not in line for line in result.lines)
        assert any("[secret]" in line for line in result.lines)
        assert PASSWORD not in repr(target) and target.secret_token not in repr(target)

    def test_versions_given_to_the_installer_cannot_become_a_second_command(self, lab):
        target = lab.ssh_target(ADMIN_1, password=PASSWORD)
        one(target, Operation.STOP)

        result = one(target, Operation.INSTALL, params={"cloudpaging": "9.5.0; reboot", "openjdk": "", "tomcat": ""})

        assert result.ok
        assert lab.state(ADMIN_1).versions["cloudpaging"] == "9.5.0; reboot"
        assert [entry["operation"] for entry in lab.control.journal()] == ["stop", "install"]


def test_targets_carry_the_deployments_ssh_commands_and_a_still_sealed_secret(db, contoso):
    from portal.models import Deployment
    from upgrades.drivers import targets_of
    from upgrades.models import CommandTemplates

    deployment = Deployment.objects.get(organisation=contoso)
    CommandTemplates.objects.create(deployment=deployment, stop="labctl stop", upgrade_database="cpdb --upgrade")
    server = deployment.servers.order_by("hostname").first()

    [target] = targets_of([server])

    assert target.driver == "ssh" and target.commands == {"stop": "labctl stop", "upgrade-database": "cpdb --upgrade"}
    assert target.secret_token == server.secret_token and "demo-ssh-secret" not in target.secret_token
    # Contoso's demo servers have no registered host key: the driver refuses before any traffic.
    result = one(target, Operation.VERSIONS)
    assert not result.ok and "No SSH host key is registered" in result.message
