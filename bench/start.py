"""How long `make run` takes to be ready, cold and warm.

Run as `.venv/bin/python -m bench.start` from the project's directory (`make bench` runs it too);
it needs nothing running: each start is `python -m portal.supervisor run` on a data folder of
its own, under a temporary directory, with the embedded PostgreSQL and Redis.

1. Cold: the first start on an empty data folder (initdb, every migration, the demo data).
2. Warm: `--repeat` starts on that same folder, the data already there.
3. Each start is timed from the command to the first 200 of /healthz, which `make run` answers
   only once every part is ready (lab fleet, identity providers, mail sink, workers,
   dispatcher), then stopped with SIGTERM; a warm start's CPU time (supervisor and children,
   to the stop) is reported too, as a figure a busy machine does not stretch.
4. Print a table, then as the last line one JSON object with the figures.

The target is a warm start under WARM_TARGET_SECONDS. The machine's load average is reported
beside the figures: a machine busy with other work starts every process slower.
"""

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import progress

PROJECT_DIR = Path(__file__).resolve().parent.parent
WARM_TARGET_SECONDS = 5.0
START_TIMEOUT = 300
STOP_TIMEOUT = 30
# What the supervisor decides for itself when unset: the caller's (make bench's) must not leak in.
SUPERVISOR_DECIDES = (
    "DATABASE_URL", "REDIS_URL", "EMAIL_HOST", "EMAIL_PORT", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DEBUG",
    "DATABASE_POOL", "SITE_URL", "TEST_DATABASE_NAME", "HEALTH_PARTS", "HEALTH_WORKERS", "DISPATCHER_ALIVE_FILE",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds() -> float:
    """CPU time of the processes this one has waited for (the supervisor and, through it, its
    children; not the embedded servers, which run detached)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def start_once(data: Path, log: Path) -> float:
    """Seconds from `make run`'s command to /healthz's first 200; the portal is stopped after."""
    port = free_port()
    environment = {name: value for name, value in os.environ.items() if name not in SUPERVISOR_DECIDES}
    environment |= {"PORTAL_DATA_DIR": str(data), "PORT": str(port), "MAIL_SINK_PORT": str(free_port()),
                    "IDENTITY_LAB_PORT": str(free_port())}
    started = time.monotonic()
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "portal.supervisor", "run"], cwd=PROJECT_DIR,
                                   env=environment, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"make run stopped at start ({process.returncode}):\n{log.read_text()[-3000:]}")
            if time.monotonic() - started > START_TIMEOUT:
                raise SystemExit(f"/healthz did not answer 200 within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5, trust_env=False).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="warm starts (default 3)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-start-") as folder:
        data = Path(folder) / "data"
        progress("cold start (initdb, migrations, demo data)")
        cold = start_once(data, Path(folder) / "cold.log")
        warm, cpu = [], []
        for number in range(1, options.repeat + 1):
            progress(f"warm start {number} of {options.repeat}")
            before = cpu_seconds()
            warm.append(start_once(data, Path(folder) / f"warm-{number}.log"))
            cpu.append(cpu_seconds() - before)
    load = os.getloadavg()[0]
    median = statistics.median(warm)
    within = median < WARM_TARGET_SECONDS
    print(f"make run, time to ready (/healthz 200), {os.cpu_count()} CPUs, load average {load:.1f}")
    print()
    print(f"{'start':10} {'seconds':>8} {'CPU s':>8}")
    print(f"{'cold':10} {cold:>8.1f}")
    for number, (seconds, used) in enumerate(zip(warm, cpu), start=1):
        print(f"{f'warm {number}':10} {seconds:>8.1f} {used:>8.1f}")
    print(f"warm median {median:.1f} s: {'within' if within else 'above'} the target of {WARM_TARGET_SECONDS:.0f} s")
    print(json.dumps({
        "within_targets": within,
        "targets": {"warm_seconds": WARM_TARGET_SECONDS},
        "cold_seconds": round(cold, 2),
        "warm_seconds": [round(seconds, 2) for seconds in warm],
        "warm_median_seconds": round(median, 2),
        # CPU time of a warm start, to its stop: what a busy machine cannot stretch.
        "warm_cpu_seconds": [round(used, 2) for used in cpu],
        "load_average": round(load, 2),
        "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
