"""The lab fleet and the drivers: how fast a fleet is ready, and what a driver call costs.

Run as `.venv/bin/python -m bench.lab` from the project's directory (the settings need
DATABASE_URL and REDIS_URL set, though nothing here touches either).

1. Start a lab fleet of 10 groups (20 servers and their load balancer) with `manage.py labfleet`'s
   default health checks (every second, 2 in a row to change, the first check decides), in a
   thread of this process; time from the start until the load balancer sees every member healthy.
2. Set the operation time to zero; time `--repeat` driver calls (stop, start, alternating) on one
   server through `drivers.operate`, as a Celery task would call it, for the `lab` driver (HTTP
   to the agent) and the `ssh` driver (a real SSH server on loopback, key log-in, host key
   checked, `labctl` acting on the same server).
3. Print a table and, as the last line, one JSON object with the figures.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import progress, set_up_django

TARGET_READY_S = 3.0
TARGET_LAB_P95_MS = 20.0
GROUPS = 10


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _spec():
    from upgrades.lab.model import ADMIN, STREAM, DeploymentSpec, ServerSpec

    servers = []
    for position in range(1, GROUPS + 1):
        servers += [ServerSpec(f"cpadmin{position:02d}.bench.example", ADMIN),
                    ServerSpec(f"cpstream{position:02d}.bench.example", STREAM)]
    versions = {"cloudpaging": "9.4.2", "openjdk": "17.0.10", "tomcat": "9.0.85"}
    return DeploymentSpec(key="bench", servers=servers, versions=versions, op_seconds=0.0)


def _time_calls(target, *, repeat: int, warm_up: int) -> list[float]:
    from upgrades.drivers import Operation, operate

    times = []
    for number in range(warm_up + repeat):
        operation = Operation.STOP if number % 2 == 0 else Operation.START
        started = time.perf_counter()
        [result] = operate(targets=[target], operation=operation, timeout=10)
        elapsed = (time.perf_counter() - started) * 1000
        if not result.ok:
            raise SystemExit(f"{operation} through the {target.driver} driver failed: {result.message}")
        if number >= warm_up:
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200, help="timed driver calls per driver (default 200)")
    parser.add_argument("--warm-up", type=int, default=10, help="untimed calls before them (default 10)")
    options = parser.parse_args()
    set_up_django(database="bench_lab")

    import asyncssh

    from portal import credentials
    from upgrades.drivers import Target
    from upgrades.lab.control import LabControl
    from upgrades.lab.fleet import FleetThread, LabFleet
    from upgrades.lab.sshd import LAB_COMMANDS, start_ssh, stop_ssh

    spec = _spec()
    with tempfile.TemporaryDirectory() as folder:
        progress(f"starting a lab fleet of {GROUPS} groups")
        started = time.perf_counter()
        thread = FleetThread(LabFleet([spec], data_dir=Path(folder)))
        thread.start()
        control = LabControl(f"http://127.0.0.1:{spec.lb_port}")
        while not all(member["healthy"] for member in control.status()["members"]):
            time.sleep(0.01)
        ready_s = time.perf_counter() - started
        try:
            server = spec.servers[0]
            lab_target = Target(hostname=server.hostname, role=server.role, driver="lab", address="127.0.0.1",
                                port=server.port)
            progress(f"timing {options.repeat} lab driver calls")
            lab_ms = _time_calls(lab_target, repeat=options.repeat, warm_up=options.warm_up)

            client_key = asyncssh.generate_private_key("ssh-ed25519")
            ssh = thread.run(start_ssh(agent_port=server.port, username="svc-upgrade",
                                       client_key=client_key.export_public_key().decode()))
            ssh_target = Target(
                hostname=server.hostname, role=server.role, driver="ssh", address="127.0.0.1", port=ssh.port,
                username="svc-upgrade", secret_token=credentials.seal(client_key.export_private_key().decode()),
                host_key=ssh.known_host, commands=dict(LAB_COMMANDS),
            )
            progress(f"timing {options.repeat} ssh driver calls")
            ssh_ms = _time_calls(ssh_target, repeat=options.repeat, warm_up=options.warm_up)
            thread.run(stop_ssh(ssh))
        finally:
            thread.stop()

    figures = {
        "fleet_ready_s": round(ready_s, 3),
        "lab_overhead_p50_ms": round(statistics.median(lab_ms), 2),
        "lab_overhead_p95_ms": round(_percentile(lab_ms, 0.95), 2),
        "ssh_overhead_p50_ms": round(statistics.median(ssh_ms), 2),
        "ssh_overhead_p95_ms": round(_percentile(ssh_ms, 0.95), 2),
    }
    within = figures["fleet_ready_s"] < TARGET_READY_S and figures["lab_overhead_p95_ms"] < TARGET_LAB_P95_MS
    print(f"Lab fleet of {GROUPS} groups ({2 * GROUPS} servers, one load balancer with health checks)")
    print(f"  ready (every member healthy):   {figures['fleet_ready_s']:8.3f} s   (target < {TARGET_READY_S:g} s)")
    print(f"Driver round trip, zero operation time, {options.repeat} calls each:")
    print(f"  lab  p50 {figures['lab_overhead_p50_ms']:7.2f} ms   p95 {figures['lab_overhead_p95_ms']:7.2f} ms"
          f"   (target p95 < {TARGET_LAB_P95_MS:g} ms)")
    print(f"  ssh  p50 {figures['ssh_overhead_p50_ms']:7.2f} ms   p95 {figures['ssh_overhead_p95_ms']:7.2f} ms"
          "   (a new SSH connection per call)")
    print(json.dumps({
        **figures, "within_targets": within,
        "targets": {"fleet_ready_s": TARGET_READY_S, "lab_overhead_p95_ms": TARGET_LAB_P95_MS},
        "groups": GROUPS, "repeat": options.repeat,
    }))


if __name__ == "__main__":
    main()
