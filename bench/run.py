"""The run engine's own cost: a major upgrade of a 4-group lab deployment whose operations take no
time, so what is left is the engine (claim, events, heartbeat, Celery hand-over, advance).

Run as `.venv/bin/python -m bench.run` from the project's directory (DATABASE_URL and REDIS_URL
set; the bench makes and drops a database `bench_run` of its own and uses a queue of the same name;
`--database` names another, so that two checkouts on one machine measure apart).

1. Seed the demo world; register a deployment of 4 groups (8 lab servers behind a lab load
   balancer with health checks) and start its lab fleet in a thread, operation time zero.
2. Start a Celery worker in this process (threads: the prober holds one for the whole run), with
   a connection pool as every deployed worker has.
3. Make a confirmed window open now, `run_create`, `run_start`; the bench plays the people:
   told by the run's events, as the live page is, it confirms each waiting functionality test
   (engineer and customer) and signs off.
4. For each automated step (driver operations, the database upgrade): overhead = its finish -
   its predecessor's finish - the driver time measured inside the step (its operation and,
   before a group leaves service, the questions to the servers and the load balancer). Print a
   table and, as the last line, one JSON object with the figures.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.harness import own_database, progress, set_up_django

TARGET_P50_MS = 15.0
TARGET_P95_MS = 30.0
GROUPS = 4


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _deployment():
    from portal.choices import Driver, ServerPlatform, ServerRole
    from portal.models import Deployment, Organisation, Server, ServerGroup

    deployment = Deployment.objects.create(
        organisation=Organisation.objects.get(slug="northwind"), name="Bench four groups",
        cloudpaging_version="9.4.2", openjdk_version="17.0.10", tomcat_version="9.0.85",
        load_balancer_vendor="F5", health_checks=True, server_platform=ServerPlatform.VIRTUAL,
        service_url="http://127.0.0.1:1",
    )
    for position in range(1, GROUPS + 1):
        group = ServerGroup.objects.create(deployment=deployment, position=position)
        for role, prefix in ((ServerRole.ADMIN_LICENSE, "cpadmin"), (ServerRole.STREAM, "cpstream")):
            Server.objects.create(deployment=deployment, group=group, role=role, driver=Driver.LAB, port=1,
                                  hostname=f"{prefix}{position:02d}.bench.example", address="127.0.0.1")
    return deployment


def _start_lab(deployment, folder: Path):
    from portal.models import Deployment, Server
    from upgrades.fleet import lab_specs
    from upgrades.lab.control import LabControl
    from upgrades.lab.fleet import FleetThread, LabFleet

    [spec] = lab_specs(deployment_ids=[deployment.pk], check_interval=0.05, check_timeout=0.5, rise=1, fall=1,
                       op_seconds=0.0)
    spec.lb_port = 0
    for server in spec.servers:
        server.port = 0
    thread = FleetThread(LabFleet([spec], data_dir=folder))
    thread.start()
    for server in spec.servers:
        Server.objects.filter(deployment=deployment, hostname=server.hostname).update(port=server.port)
    url = f"http://127.0.0.1:{spec.lb_port}"
    Deployment.objects.filter(pk=deployment.pk).update(service_url=url)
    deployment.refresh_from_db()
    control = LabControl(url)
    deadline = time.monotonic() + 10
    while not all(member["in_pool"] for member in control.status()["members"]):
        if time.monotonic() > deadline:
            raise SystemExit("The lab's servers did not all join the pool.")
        time.sleep(0.05)
    return thread


def _window(deployment, engineer, customer):
    from django.conf import settings
    from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
    from django.utils import timezone

    from scheduling.models import MaintenanceWindow
    from scheduling.plan import plan_window
    from upgrades.choices import RequestState
    from upgrades.models import Release, UpgradeRequest

    release = Release.objects.get(version="10.0.0")
    request = UpgradeRequest.objects.create(deployment=deployment, release=release, from_version="9.4.2",
                                            kind=release.kind, state=RequestState.APPROVED, requested_by=customer)
    plan = plan_window(start=timezone.now() - timedelta(minutes=1), kind=release.kind, servers=2 * GROUPS,
                       preparation=timedelta(minutes=settings.SCHEDULING_PREPARATION_MINUTES))
    return MaintenanceWindow.objects.create(
        request=request, engineer=engineer, booked_by=customer, cover="standard", state="confirmed",
        period=DateTimeTZRange(plan.start, plan.end), held=DateTimeTZRange(plan.start, plan.end + timedelta(minutes=30)),
        downtime=DateTimeTZRange(plan.downtime_start, plan.downtime_end),
    )


def _play_the_people(run, engineer, customer, timeout: float) -> None:
    """The engineer and the customer, as the live page shows them the run: they act when an event
    says a step waits for them (or, should an event not come, every half second), not by asking
    the database in a loop, which would take turns from the worker in this process."""
    import redis
    from django.conf import settings

    from upgrades.choices import RunState, StepState
    from upgrades.procedure import StepKind
    from upgrades.services.events import channel
    from upgrades.services.runs import run_sign_off, step_confirm

    events = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    events.subscribe(channel(run.pk))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.state == RunState.COMPLETED:
                return
            if run.state != RunState.RUNNING:
                failed = run.steps.exclude(error="").first()
                raise SystemExit(f"The run is {run.state}: {failed.action if failed else ''} {failed.error if failed else ''}")
            waiting = run.steps.filter(state=StepState.WAITING).first()
            if waiting is None:
                while (message := events.get_message(timeout=0.5)) is not None and not _calls(message):
                    pass
            elif waiting.kind == StepKind.SIGN_OFF:
                run_sign_off(run=run, by=customer, name=customer.full_name, comment="Bench")
            else:
                step_confirm(step=waiting, by=engineer)
                step_confirm(step=waiting, by=customer)
    finally:
        events.close()
    raise SystemExit(f"The run did not complete within {timeout:.0f} s.")


def _calls(message: dict) -> bool:
    """Whether a message of the run's channel (an event, or a batch of log lines) may need the
    people: a step that waits, or the run's own change."""
    parsed = json.loads(message["data"])
    return any(event["kind"] == "run" or (event["kind"] == "step" and (event["data"] or {}).get("state") == "waiting")
               for event in (parsed if isinstance(parsed, list) else [parsed]))


def _overheads(run) -> tuple[list[tuple[str, float, float]], float]:
    """(key, overhead ms, driver ms) per automated step, and the driver time of all steps, in s."""
    from upgrades.procedure import StepKind

    steps = list(run.steps.order_by("position"))
    rows, operations = [], 0.0
    for before, step in zip(steps, steps[1:]):
        driver = step.result.get("operation_seconds", 0.0) + step.result.get("pool_seconds", 0.0)
        operations += driver
        if step.kind in (StepKind.OPERATION, StepKind.DATABASE):
            elapsed = (step.finished_at - before.finished_at).total_seconds()
            rows.append((step.key, (elapsed - driver) * 1000, driver * 1000))
    return rows, operations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="how long the run may take (default 120 s)")
    parser.add_argument("--database", default="bench_run", help="the bench's own database and queue (default bench_run)")
    options = parser.parse_args()
    # As every worker runs (`make run`, docker-compose, .env.example): with a connection pool,
    # so that the connection a task gives back at its end is taken again by the next one rather
    # than opened afresh.
    os.environ["DATABASE_POOL"] = "1"
    set_up_django(database=options.database)

    from celery.contrib.testing.worker import start_worker
    from celery.worker import state as worker_state

    from portal.celery import app
    from portal.models import User
    from scheduling import demo as scheduling_demo
    from upgrades.choices import ReadinessKind
    from upgrades.services.plans import run_create
    from upgrades.services.readiness import preflight_run, readiness_confirm
    from upgrades.services.runs import run_start

    app.conf.task_default_queue = options.database
    with own_database(), tempfile.TemporaryDirectory() as folder:
        progress("seeding the demo world")
        scheduling_demo.seed_world()
        engineer = User.objects.get(email="engineer@vendor.example")
        customer = User.objects.get(email="lead@northwind.example")
        deployment = _deployment()
        progress(f"starting a lab fleet of {GROUPS} groups")
        lab = _start_lab(deployment, Path(folder))
        try:
            with start_worker(app, pool="threads", concurrency=3, perform_ping_check=False, loglevel="WARNING",
                              shutdown_timeout=10):
                run = run_create(window=_window(deployment, engineer, customer))
                # S11, immediately before: snapshots, the StreamDB backup, the preflight.
                readiness_confirm(run=run, kind=ReadinessKind.SNAPSHOTS, by=customer)
                readiness_confirm(run=run, kind=ReadinessKind.BACKUP, by=engineer)
                if not preflight_run(run_id=run.pk, by_id=engineer.pk):
                    raise SystemExit(f"The preflight failed: {run.readiness.get(kind=ReadinessKind.PREFLIGHT).note}")
                progress(f"running a major upgrade of {GROUPS} groups ({run.steps.count()} steps)")
                cpu = time.process_time()
                run_start(run=run, by=engineer)
                _play_the_people(run, engineer, customer, options.timeout)
                cpu_s = time.process_time() - cpu
                deadline = time.monotonic() + 15
                while worker_state.active_requests and time.monotonic() < deadline:
                    time.sleep(0.1)  # the prober ends at its next batch
        finally:
            lab.stop()
        run.refresh_from_db()
        rows, operations_s = _overheads(run)
        events, step_total = run.live_events.count(), run.steps.count()

    overheads = [overhead for _, overhead, _ in rows]
    p50, p95 = statistics.median(overheads), _percentile(overheads, 0.95)
    total_s = (run.finished_at - run.started_at).total_seconds()
    lines = [f"A major run of {GROUPS} groups, operation time zero: {len(rows)} automated steps, {events} events", "",
             f"{'step':18} {'overhead ms':>12} {'driver ms':>10}", "-" * 42]
    lines += [f"{key:18} {overhead:>12.1f} {driver:>10.1f}" for key, overhead, driver in rows]
    lines += ["", f"overhead p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p50 < {TARGET_P50_MS:.0f} ms, p95 < {TARGET_P95_MS:.0f} ms); "
              f"run {total_s:.2f} s, of which driver operations {operations_s:.2f} s; "
              f"CPU time of the process meanwhile {cpu_s:.2f} s (the lab fleet and the people's side included)"]
    print("\n".join(lines))
    print(json.dumps({
        "within_targets": p50 < TARGET_P50_MS and p95 < TARGET_P95_MS,
        "targets": {"step_overhead_p50_ms": TARGET_P50_MS, "step_overhead_p95_ms": TARGET_P95_MS},
        "step_overhead_p50_ms": round(p50, 1),
        "step_overhead_p95_ms": round(p95, 1),
        "total_s": round(total_s, 2),
        "operations_s": round(operations_s, 2),
        "automated_steps": len(rows),
        "steps": step_total,
        "events": events,
        "run_cpu_s": round(cpu_s, 2),
        "groups": GROUPS,
    }))


if __name__ == "__main__":
    main()
