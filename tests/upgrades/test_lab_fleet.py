"""The lab fleet: a Cloudpaging-like deployment on loopback, reached over real HTTP (S4, S5, S6)."""

import httpx

from tests.conftest import wait_for
from tests.upgrades.conftest import VERSION_9_5, VERSION_10
from upgrades.drivers import Operation, operate

ADMIN_1, STREAM_1 = "cpadmin01.lab.example", "cpstream01.lab.example"
ADMIN_2, STREAM_2 = "cpadmin02.lab.example", "cpstream02.lab.example"


def get(url: str, **kwargs) -> httpx.Response:
    return httpx.get(url, trust_env=False, timeout=5, **kwargs)


def in_pool(lab, hostname: str) -> bool:
    return lab.control.member(hostname)["in_pool"]


def upgrade(lab, targets, versions):
    """Stop, install and configure: the procedure's steps for one group (S13)."""
    for operation, params in ((Operation.STOP, None), (Operation.INSTALL, versions), (Operation.CONFIGURE, None)):
        results = operate(targets=targets, operation=operation, params=params, timeout=10)
        assert all(result.ok for result in results), [result.message for result in results]


def test_the_load_balancer_serves_log_in_navigation_launch_and_the_admin_version(lab):
    wait_for(lambda: all(member["healthy"] for member in lab.control.status()["members"]))

    home = get(f"{lab.url}/")
    login = httpx.post(f"{lab.url}/login", data={"username": "test.user", "password": "x"}, trust_env=False)
    navigation = get(f"{lab.url}/navigation", headers={"X-Session": login.json()["session"]})
    launch = get(f"{lab.url}/stream/launch/Adobe Reader")
    version = get(f"{lab.url}/admin/version")

    assert home.status_code == 200 and "Cloudpaging Server" in home.text
    assert "Applications" in navigation.json()["sections"]
    assert launch.json()["launched"] == "Adobe Reader" and launch.headers["X-Lab-Member"].startswith("cpstream")
    assert version.json()["version"] == "9.4.2" and version.headers["X-Lab-Member"].startswith("cpadmin")


def test_a_wrong_log_in_is_refused(lab):
    wait_for(lambda: lab.control.member(ADMIN_1)["healthy"])

    response = httpx.post(f"{lab.url}/login", data={"username": "test.user"}, trust_env=False)

    assert response.status_code == 401


def test_a_server_whose_major_version_differs_from_the_schema_leaves_the_pool(lab):
    upgrade(lab, [lab.target(ADMIN_1)], VERSION_10)

    def out_for_the_schema():
        # Its checks also failed while it was stopped for the upgrade: wait for a check after it.
        member = lab.control.member(ADMIN_1)
        return not in_pool(lab, ADMIN_1) and "StreamDB" in member["reason"] and member

    member = wait_for(out_for_the_schema)

    assert "does not match the StreamDB schema 9" in member["reason"]
    assert member["versions"]["cloudpaging"] == "10.0.0"
    # The other admin server carries the service alone.
    assert {get(f"{lab.url}/admin/version").headers["X-Lab-Member"] for _ in range(4)} == {ADMIN_2}


def test_a_major_upgrade_has_downtime_that_emerges_between_the_schema_and_the_first_upgraded_group(lab):
    """S4: the database upgrade turns the schema to 10; the old group fails its checks and the
    upgraded group serves again."""
    upgrade(lab, lab.group(1), VERSION_10)
    assert get(f"{lab.url}/admin/version").json()["version"] == "9.4.2"  # group 2 serves

    [result] = operate(targets=[lab.target(ADMIN_1)], operation=Operation.UPGRADE_DATABASE, timeout=10)

    assert result.ok and "from 9 to 10" in result.message
    wait_for(lambda: in_pool(lab, ADMIN_1) and not in_pool(lab, ADMIN_2))
    assert get(f"{lab.url}/admin/version").json()["version"] == "10.0.0"
    assert lab.control.status()["schema"] == "10"


def test_the_database_upgrade_of_a_minor_release_changes_nothing(lab):
    upgrade(lab, lab.group(1), VERSION_9_5)

    [result] = operate(targets=[lab.target(ADMIN_1)], operation=Operation.UPGRADE_DATABASE, timeout=10)

    assert result.ok and "already at 9" in result.message
    wait_for(lambda: in_pool(lab, ADMIN_1) and in_pool(lab, ADMIN_2))


def test_the_database_upgrade_runs_only_on_an_admin_server(lab):
    [result] = operate(targets=[lab.target(STREAM_1)], operation=Operation.UPGRADE_DATABASE, timeout=10)

    assert not result.ok and "Admin/License" in result.message
    assert any("ERROR" in line for line in result.lines)


def test_without_health_checks_the_load_balancer_routes_blindly_so_the_service_is_intermittent(start_lab):
    lab = start_lab(health_checks=False)
    operate(targets=[lab.target(ADMIN_1)], operation=Operation.STOP, timeout=10)

    statuses = [get(f"{lab.url}/admin/version").status_code for _ in range(6)]

    assert 503 in statuses and 200 in statuses


def test_installing_needs_the_services_stopped(lab):
    [result] = operate(targets=[lab.target(ADMIN_1)], operation=Operation.INSTALL, params=VERSION_10, timeout=10)

    assert not result.ok and "stop them before installing" in result.message
    assert lab.state(ADMIN_1).versions["cloudpaging"] == "9.4.2"


def test_its_state_survives_a_restart_of_the_fleet(start_lab, tmp_path):
    first = start_lab(data_dir=tmp_path / "kept")
    upgrade(first, [first.target(ADMIN_1)], VERSION_9_5)
    first.thread.stop()

    again = start_lab(data_dir=tmp_path / "kept")

    assert again.state(ADMIN_1).versions == VERSION_9_5
    assert [entry["operation"] for entry in again.control.journal()] == ["stop", "install", "configure"]


def test_the_journal_records_each_operation_received_once(lab):
    operate(targets=lab.group(1), operation=Operation.STOP, timeout=10)
    operate(targets=lab.group(1), operation=Operation.START, timeout=10)

    journal = [(entry["hostname"], entry["operation"], entry["outcome"]) for entry in lab.control.journal()]

    assert sorted(journal) == sorted([
        (ADMIN_1, "stop", "ok"), (STREAM_1, "stop", "ok"), (ADMIN_1, "start", "ok"), (STREAM_1, "start", "ok"),
    ])


def test_a_server_runs_one_operation_at_a_time(start_lab):
    lab = start_lab(op_seconds=1.0)
    target = lab.target(ADMIN_1)

    first, second = operate(targets=[target, target], operation=Operation.STOP, timeout=10)

    assert sorted([first.ok, second.ok]) == [False, True]
    assert "Busy: stop is still running" in (second.message if first.ok else first.message)


def test_the_deployment_log_is_streamed(lab):
    operate(targets=[lab.target(ADMIN_1)], operation=Operation.STOP, timeout=10)

    with httpx.stream("GET", f"http://127.0.0.1:{lab.port_of(ADMIN_1)}/agent/log", trust_env=False) as response:
        lines = list(response.iter_lines())

    assert any("Stopping the Cloudpaging Server service" in line for line in lines)


def test_a_slow_health_check_takes_the_server_out_of_the_pool(lab):
    wait_for(lambda: in_pool(lab, STREAM_1))

    lab.control.inject(STREAM_1, "slow_health", seconds=1.0)

    wait_for(lambda: not in_pool(lab, STREAM_1))
    assert "no answer within 0.5 s" in lab.control.member(STREAM_1)["reason"]
    assert get(f"{lab.url}/stream/launch/Adobe Reader").headers["X-Lab-Member"] == STREAM_2


def test_a_crashed_server_leaves_the_pool_until_its_services_are_started(lab):
    lab.control.inject(ADMIN_2, "crash", reason="out of memory")
    wait_for(lambda: not in_pool(lab, ADMIN_2))
    assert any("crashed (out of memory)" in line for line in lab.state(ADMIN_2).log)

    [started] = operate(targets=[lab.target(ADMIN_2)], operation=Operation.START, timeout=10)

    assert started.ok
    wait_for(lambda: in_pool(lab, ADMIN_2))


def test_the_load_balancer_records_each_member_it_takes_out_of_its_pool_and_back(lab):
    wait_for(lambda: in_pool(lab, ADMIN_2))
    operate(targets=[lab.target(ADMIN_2)], operation=Operation.STOP, timeout=10)
    wait_for(lambda: not in_pool(lab, ADMIN_2))
    operate(targets=[lab.target(ADMIN_2)], operation=Operation.START, timeout=10)
    wait_for(lambda: in_pool(lab, ADMIN_2))

    changes = lab.control.pool_changes()

    assert {change["hostname"] for change in changes if change["in_pool"]} == {ADMIN_1, STREAM_1, ADMIN_2, STREAM_2}
    assert [(change["in_pool"], change["reason"]) for change in changes if change["hostname"] == ADMIN_2] == [
        (True, "ok"), (False, "the Cloudpaging Server service is stopped"), (True, "ok")]
    assert [change["at"] for change in changes] == sorted(change["at"] for change in changes)


def test_a_running_fleet_takes_on_a_deployment_registered_meanwhile_and_the_servers_added_to_it(lab):
    from upgrades.lab.control import LabControl
    from upgrades.lab.fleet import LabFleet

    from tests.upgrades.conftest import lab_spec

    fleet: LabFleet = lab.thread.fleet
    first = lab_spec(key="registered-later", groups=1)  # its first group registered so far

    assert lab.thread.run(fleet.sync([lab.spec, first])) == {"registered-later": ""}
    control = LabControl(f"http://127.0.0.1:{first.lb_port}")
    wait_for(lambda: len(control.status()["members"]) == 2)
    grown = lab_spec(key="registered-later", groups=2)
    grown.lb_port = first.lb_port
    assert lab.thread.run(fleet.sync([grown])) == {"registered-later": ""}

    wait_for(lambda: len(control.status()["members"]) == 4
             and all(member["healthy"] for member in control.status()["members"]))
    assert get(f"http://127.0.0.1:{first.lb_port}/admin/version").json()["version"] == "9.4.2"
    assert lab.thread.run(fleet.sync([grown])) == {}  # served already: nothing more


def test_a_reset_puts_every_server_back_to_a_fresh_install_of_the_versions_given(lab):
    upgrade(lab, lab.group(1), VERSION_10)
    lab.control.inject(STREAM_2, "fail_next")
    versions = lab.state(ADMIN_2).versions

    lab.control.reset(versions)

    assert all(lab.state(hostname).versions == versions for hostname in (ADMIN_1, STREAM_1, ADMIN_2, STREAM_2))
    assert lab.control.status()["schema"] == versions["cloudpaging"].split(".")[0]
    assert lab.control.member(STREAM_2)["faults"] == {}
    assert lab.control.journal() == []
    wait_for(lambda: all(member["in_pool"] for member in lab.control.status()["members"]))


def test_a_reset_meant_for_another_deployment_is_refused(lab):
    import pytest

    from upgrades.lab.control import LabError

    lab.control.inject(STREAM_2, "fail_next")

    with pytest.raises(LabError, match="409"):
        lab.control.reset(lab.state(ADMIN_2).versions, deployment="deployment-999")
    assert lab.control.member(STREAM_2)["faults"] != {}
