"""A run with a long deployment log: what its pages cost the server with a million log lines.

Run as `.venv/bin/python -m bench.long_log` from the project's directory (DATABASE_URL and
REDIS_URL set; the bench makes and drops a database `bench_long_log` of its own).

1. Seed the demo world; plan Northwind's upgrade (`run_create`) and set it running, with its
   first five operation steps done and the third one failed once before its retry.
2. Write `--lines` log lines (1,000,000) straight into PostgreSQL (INSERT ... SELECT from
   generate_series, in the numbering the engine gives them: each attempt's step events around its
   lines), one rare line deep inside; ANALYZE.
3. Through Django's test client (in this process: middleware, view, queries, template; no
   network), time each page `--repeat` times as the run's engineer: the live page, the report,
   a page of older lines (htmx), the log's page around a line, three searches (a rare phrase deep
   in the log, one in every line, one in every tenth) and the whole download; count its queries
   and bytes. Server time is the request's wall time; CPU is this process's (Python) time.
4. Start the portal as `make run` does (uvicorn) and download the whole log over HTTP: bytes/s,
   and the web server's peak memory against its memory before.
5. Print a table and, as the last line, one JSON object with the figures.

A URL the code does not have (the bench run on an older commit) is reported as absent.
"""

import argparse
import json
import statistics
import time
from datetime import timedelta

from bench import harness
from bench.harness import progress

DATABASE = "bench_long_log"
TARGET_MS = 300.0
TARGET_BYTES = 300_000
RARE = "disk quota exceeded on /var/lib/cloudpaging"
WORDS = ["copying package", "verifying checksum", "unpacking", "writing configuration", "restarting service",
         "waiting for the health check", "reading repository index", "applying schema change"]


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="log lines of the run (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=10, help="timed requests per page (default 10)")
    parser.add_argument("--warm-up", type=int, default=2, help="untimed requests before them (default 2)")
    parser.add_argument("--explain", action="store_true", help="print the plans of the log's queries (stderr)")
    parser.add_argument("--skip", default="", help="comma-separated probe names not to measure (e.g. report)")
    return parser.parse_args()


# -- The run and its log ------------------------------------------------------------------------------



def write_log(run, *, lines: int) -> dict:
    """`lines` log lines in five steps' attempts (the third failed once), numbered as the engine
    numbers events; one line holds RARE, two thirds of the way in. Returns where things are."""
    from django.db import connection

    from upgrades.choices import StepState

    steps = list(run.steps.order_by("position")[:5])
    attempts = [(step, 1, StepState.SUCCEEDED) for step in steps[:2]] + [
        (steps[2], 1, StepState.FAILED), (steps[2], 2, StepState.SUCCEEDED)] + [
        (step, 1, StepState.SUCCEEDED) for step in steps[3:]]
    share = lines // len(attempts)
    began = run.started_at
    seq, written, rare_seq = run.next_seq - 1, 0, None  # after the plan's own events
    with connection.cursor() as cursor:
        for index, (step, number, end) in enumerate(attempts):
            count = share if index < len(attempts) - 1 else lines - written
            seq += 1
            cursor.execute(
                "INSERT INTO upgrades_liveevent (run_id, seq, at, kind, step_id, text, data) "
                "VALUES (%s, %s, %s, 'step', %s, %s, %s)",
                [run.pk, seq, began + timedelta(milliseconds=seq * 3), step.pk, f"{step.action} started",
                 json.dumps({"state": StepState.RUNNING, "attempt": number})],
            )
            cursor.execute(
                """INSERT INTO upgrades_liveevent (run_id, seq, at, kind, step_id, text, data)
                   SELECT %(run)s, %(first)s + g, %(began)s + (%(first)s + g) * interval '3 milliseconds', 'log',
                          %(step)s,
                          'cpstream' || lpad((g %% 8 + 1)::text, 2, '0') || '.northwind.example: '
                          || (%(words)s::text[])[g %% 8 + 1] || ' ' || (g %% 997)::text || '/997 '
                          || substr(md5(g::text), 1, 16)
                          || CASE WHEN g %% 10 = 0 THEN ' (slow answer, retrying)' ELSE '' END,
                          '{}'::jsonb
                   FROM generate_series(1, %(count)s) AS g""",
                {"run": run.pk, "first": seq, "began": began, "step": step.pk, "words": WORDS, "count": count},
            )
            if rare_seq is None and written + count >= lines * 2 // 3:
                rare_seq = seq + (lines * 2 // 3 - written)
                cursor.execute("UPDATE upgrades_liveevent SET text = %s WHERE run_id = %s AND seq = %s",
                               [f"cpstream03.northwind.example: ERROR: {RARE}", run.pk, rare_seq])
            seq += count
            written += count
            seq += 1
            cursor.execute(
                "INSERT INTO upgrades_liveevent (run_id, seq, at, kind, step_id, text, data) "
                "VALUES (%s, %s, %s, 'step', %s, %s, %s)",
                [run.pk, seq, began + timedelta(milliseconds=seq * 3), step.pk, f"{step.action}: {end}",
                 json.dumps({"state": end, "attempt": number, **({"error": "The installer stopped"} if end == "failed" else {})})],
            )
            progress(f"{written:,} log lines written")
    for step, number, end in attempts:
        step.__class__.objects.filter(pk=step.pk).update(
            state=end, attempts=number, started_at=began, finished_at=began + timedelta(minutes=1))
    run.__class__.objects.filter(pk=run.pk).update(next_seq=seq + 1)
    run.refresh_from_db()
    return {"last_seq": seq, "rare_seq": rare_seq, "middle_seq": seq // 2}


# -- Measuring -------------------------------------------------------------------------------------


def probes(run, where: dict) -> list[dict]:
    from urllib.parse import urlencode

    from django.urls import NoReverseMatch, reverse

    def url(name: str, **query) -> str | None:
        try:
            path = reverse(name, args=[run.pk])
        except NoReverseMatch:
            return None
        return path + ("?" + urlencode(query) if query else "")

    return [
        {"name": "live page", "url": url("run-live")},
        {"name": "report", "url": url("run-report")},
        {"name": "older lines (htmx)", "url": url("run-log", before=where["middle_seq"]), "htmx": True},
        {"name": "log around a line", "url": url("run-log", at=where["rare_seq"])},
        {"name": "search, rare phrase", "url": url("run-log-search", q="disk quota"), "htmx": True,
         "expect": RARE},
        {"name": "search, every line", "url": url("run-log-search", q="northwind.example"), "htmx": True},
        {"name": "search, every 10th line", "url": url("run-log-search", q="slow answer"), "htmx": True},
        {"name": "download", "url": url("run-log-download"), "stream": True},
    ]


def fetch(client, probe: dict) -> tuple[int, float, float]:
    """One request: its bytes, wall and CPU milliseconds (the body read whole, as a browser does)."""
    headers = {"HX-Request": "true"} if probe.get("htmx") else {}
    wall, cpu = time.perf_counter(), time.process_time()
    response = client.get(probe["url"], headers=headers)
    if response.status_code != 200:
        raise SystemExit(f"GET {probe['url']} answered {response.status_code}, not 200.")
    size = sum(len(part) for part in response.streaming_content) if response.streaming else len(response.content)
    if probe.get("expect") and probe["expect"].encode() not in response.content:
        raise SystemExit(f"GET {probe['url']} does not show {probe['expect']!r}.")
    return size, (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def explain(queries: list[dict]) -> None:
    """The plans PostgreSQL chose for the log's queries, with their times."""
    import sys

    from django.db import connection

    for query in queries:
        if "upgrades_liveevent" not in query["sql"] or "savepoint" in query["sql"].lower():
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + query["sql"])
            plan = "\n    ".join(row[0] for row in cursor.fetchall())
        print(f"  {query['sql'][:160]}\n    {plan}", file=sys.stderr)


def measure_in_process(client, measured: list[dict], *, repeat: int, warm_up: int, plans: bool = False) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for probe in measured:
        if probe["url"] is None:
            continue
        progress(f"timing {probe['name']}")
        times = repeat if not probe.get("stream") else max(2, repeat // 4)
        for _ in range(warm_up if not probe.get("stream") else 1):
            fetch(client, probe)
        with CaptureQueriesContext(connection) as captured:
            fetch(client, probe)
        probe["queries"] = len(captured.captured_queries)
        if plans and not probe.get("stream"):
            explain(captured.captured_queries)
        walls, cpus = [], []
        for _ in range(times):
            size, wall, cpu = fetch(client, probe)
            walls.append(wall)
            cpus.append(cpu)
        probe.update(bytes=size, p50_ms=round(statistics.median(walls), 1), max_ms=round(max(walls), 1),
                     cpu_ms=round(statistics.median(cpus), 1))


def memory_kb(pid: int, field: str) -> int:
    """The largest `field` (VmRSS, VmHWM) among the web server's processes."""
    import os

    family, grew = {pid}, True
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    while grew:
        children = {child for child, parent in parents.items() if parent in family} - family
        family |= children
        grew = bool(children)
    largest = 0
    for member in family:
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith(field + ":"):
                        largest = max(largest, int(line.split()[1]))
        except OSError:
            pass
    return largest


def download_over_http(run, client) -> dict | None:
    """The whole log through uvicorn, as a person's browser downloads it."""
    import httpx
    from django.db import connection
    from django.urls import NoReverseMatch, reverse

    try:
        path = reverse("run-log-download", args=[run.pk])
    except NoReverseMatch:
        return None
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    connection.close()
    with harness.portal_served() as (server, base):
        # Warm: the first page a worker serves imports and compiles what later ones reuse.
        httpx.get(base + reverse("run-live", args=[run.pk]), headers={"Cookie": cookie}, timeout=60)
        rss_before = memory_kb(server.pid, "VmRSS")
        cpu_before = harness.cpu_seconds(server.pid)
        size, started, first_byte = 0, time.perf_counter(), None
        with httpx.stream("GET", base + path, headers={"Cookie": cookie}, timeout=120) as response:
            if response.status_code != 200:
                raise SystemExit(f"GET {path} over HTTP answered {response.status_code}.")
            for block in response.iter_bytes():
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                size += len(block)
        seconds = time.perf_counter() - started
        return {
            "bytes": size, "seconds": round(seconds, 2), "mb_per_s": round(size / seconds / 1e6, 1),
            "first_byte_ms": round((first_byte or 0) * 1000, 1),
            "server_cpu_s": round(harness.cpu_seconds(server.pid) - cpu_before, 2),
            "server_rss_before_mb": round(rss_before / 1024, 1),
            "server_peak_rss_mb": round(memory_kb(server.pid, "VmHWM") / 1024, 1),
        }


def table(figures: dict) -> str:
    lines = [
        f"A running run with {figures['lines']:,} log lines; as its engineer, in process, {figures['repeat']} times each.",
        "",
        f"{'request':26} {'queries':>7} {'bytes':>12} {'p50 ms':>8} {'max ms':>8} {'CPU ms':>8}  verdict",
    ]
    lines.append("-" * len(lines[-1]))
    for probe in figures["pages"]:
        if probe.get("p50_ms") is None:
            lines.append(f"{probe['name']:26} {'absent':>7}")
            continue
        target = "" if probe["name"] == "download" else (
            "ok" if probe["p50_ms"] < TARGET_MS and probe["bytes"] < TARGET_BYTES else "MISSED")
        lines.append(f"{probe['name']:26} {probe['queries']:>7} {probe['bytes']:>12,} {probe['p50_ms']:>8.1f} "
                     f"{probe['max_ms']:>8.1f} {probe['cpu_ms']:>8.1f}  {target}")
    http = figures.get("download_http")
    if http:
        lines += ["", f"Download over HTTP (uvicorn): {http['bytes']:,} bytes in {http['seconds']} s, "
                  f"{http['mb_per_s']} MB/s, first byte after {http['first_byte_ms']} ms, server CPU {http['server_cpu_s']} s; "
                  f"server memory {http['server_rss_before_mb']} MB before, peak {http['server_peak_rss_mb']} MB."]
    lines.append(f"verdict: {'ok' if figures['within_targets'] else 'MISSED'} "
                 f"(pages under {TARGET_MS:.0f} ms and {TARGET_BYTES:,} bytes)")
    return "\n".join(lines)


def main() -> None:
    arguments = options()
    harness.set_up_django(database=DATABASE)
    with harness.own_database():
        import pghistory

        with pghistory.context(source="bench"):
            run, _, engineer = harness.a_running_run(opened_ago=timedelta(hours=1), hours=4)
            started = time.perf_counter()
            where = write_log(run, lines=arguments.lines)
        fill_seconds = time.perf_counter() - started
        progress(f"ANALYZE ({fill_seconds:.0f} s to write the log)")
        harness.analyze()
        skipped = {name.strip() for name in arguments.skip.split(",") if name.strip()}
        measured = [probe for probe in probes(run, where) if probe["name"] not in skipped]
        client = harness.signed_in(engineer)
        measure_in_process(client, measured, repeat=arguments.repeat, warm_up=arguments.warm_up,
                           plans=arguments.explain)
        http = download_over_http(run, client)
    pages = [probe for probe in measured if probe["name"] != "download" and probe.get("p50_ms") is not None]
    figures = {
        "within_targets": bool(pages) and all(p["p50_ms"] < TARGET_MS and p["bytes"] < TARGET_BYTES for p in pages),
        "lines": arguments.lines,
        "repeat": arguments.repeat,
        "fill_s": round(fill_seconds, 1),
        "pages": [{key: probe.get(key) for key in ("name", "url", "queries", "bytes", "p50_ms", "max_ms", "cpu_ms")}
                  for probe in measured],
        "download_http": http,
        "targets": {"ms": TARGET_MS, "bytes": TARGET_BYTES},
    }
    print(table(figures))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
