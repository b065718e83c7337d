"""Measured availability: a prober samples the service through its load balancer every 250 ms
and stores the samples; downtime intervals come from them (S4, S6)."""

from datetime import UTC, datetime, timedelta

from tests.conftest import wait_for
from tests.upgrades.conftest import VERSION_9_5, VERSION_10
from upgrades import selectors
from upgrades.availability import downtime_intervals
from upgrades.drivers import Operation, operate
from upgrades.services import availability

GROUPS = {
    1: ("cpadmin01.northwind.example", "cpstream01.northwind.example"),
    2: ("cpadmin02.northwind.example", "cpstream02.northwind.example"),
}


def in_pool(lab, hostnames) -> bool:
    members = {member["hostname"]: member for member in lab.control.status()["members"]}
    return all(members[hostname]["in_pool"] for hostname in hostnames)


def upgrade_group(lab, position, versions):
    targets = [lab.target(hostname) for hostname in GROUPS[position]]
    for operation, params in ((Operation.STOP, None), (Operation.INSTALL, versions), (Operation.CONFIGURE, None)):
        assert all(result.ok for result in operate(targets=targets, operation=operation, params=params, timeout=10))


def sampled(probe, count: int) -> bool:
    return probe.samples.count() >= count


def test_a_minor_upgrade_behind_health_checks_keeps_the_service_up_throughout(worker, northwind_lab, northwind_deployment):
    lab = northwind_lab
    wait_for(lambda: in_pool(lab, GROUPS[1] + GROUPS[2]))
    lab.control.set_op_seconds(0.3)
    probe = availability.probe_start(deployment=northwind_deployment)
    wait_for(lambda: sampled(probe, 4))
    try:
        for position in (1, 2):
            upgrade_group(lab, position, VERSION_9_5)
            wait_for(lambda: in_pool(lab, GROUPS[position]))
        before_stop = probe.samples.count()
    finally:
        availability.probe_stop(probe=probe)

    assert before_stop >= 8
    assert selectors.downtime_of(probe=probe) == []
    assert probe.samples.filter(up=False).count() == 0


def test_a_major_upgrade_has_measured_downtime_from_the_schema_upgrade(worker, northwind_lab, northwind_deployment):
    lab = northwind_lab
    wait_for(lambda: in_pool(lab, GROUPS[1] + GROUPS[2]))
    probe = availability.probe_start(deployment=northwind_deployment)
    wait_for(lambda: sampled(probe, 2))
    try:
        upgrade_group(lab, 1, VERSION_10)
        lab.control.set_op_seconds(1.0)  # the schema upgrade takes a second: about four samples
        [result] = operate(targets=[lab.target(GROUPS[1][0])], operation=Operation.UPGRADE_DATABASE, timeout=10)
        assert result.ok
        wait_for(lambda: in_pool(lab, GROUPS[1]))
        count = probe.samples.count()
        wait_for(lambda: sampled(probe, count + 4))
    finally:
        availability.probe_stop(probe=probe)

    [(start, end)] = selectors.downtime_of(probe=probe)
    assert end > start
    assert probe.samples.order_by("at").last().up  # group 1 serves again


def test_a_stopped_probe_is_not_sampled_by_a_second_worker(worker, northwind_lab, northwind_deployment):
    probe = availability.probe_start(deployment=northwind_deployment)
    wait_for(lambda: sampled(probe, 2))

    assert availability.probe_run(probe_id=probe.pk) == 0  # the claim is held: this one leaves
    availability.probe_stop(probe=probe)
    assert availability.probe_stop(probe=probe) is False


def test_downtime_runs_from_the_first_down_sample_to_the_next_up_one():
    start = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    step = timedelta(milliseconds=250)
    ups = [True, False, False, True, True, False]

    intervals = downtime_intervals([(start + n * step, up) for n, up in enumerate(ups)], interval=step)

    assert intervals == [(start + step, start + 3 * step), (start + 5 * step, start + 6 * step)]


def test_the_sweep_hands_a_probe_whose_worker_died_to_a_live_one(worker, northwind_lab, northwind_deployment,
                                                                customer, release):
    from django.utils import timezone

    from tests.upgrades.runs import open_run
    from upgrades.choices import RunState
    from upgrades.models import AvailabilityProbe, Run

    # A probe its worker claimed and then died with: its claim is 20 s old and nothing samples.
    dead = timezone.now() - timedelta(seconds=20)
    probe = AvailabilityProbe.objects.create(deployment=northwind_deployment, url=northwind_deployment.service_url,
                                             owner="killed-worker", heartbeat_at=dead)
    run = open_run(deployment=northwind_deployment, release=release, by=customer)
    finished = AvailabilityProbe.objects.create(deployment=northwind_deployment, url=northwind_deployment.service_url,
                                                owner="killed-worker", heartbeat_at=dead)
    Run.objects.filter(pk=run.pk).update(state=RunState.RUNNING, probe=probe)

    try:
        assert availability.probes_sweep() == 1  # the live run's probe only
        wait_for(lambda: sampled(probe, 2))
        probe.refresh_from_db()
        assert probe.owner != "killed-worker"
        assert not finished.samples.exists()  # no live run measures it: left alone
    finally:
        availability.probe_stop(probe=probe)
        availability.probe_stop(probe=finished)
