"""What S11 says must happen immediately before the upgrade, recorded on the run before it can
start:

1. VM snapshots of every server (virtual servers): the customer confirms they are taken.
2. A full StreamDB backup (major upgrades): the customer confirms it, or the engineer records
   taking it ("our engineer can take it if given the access").
3. The preflight: a worker asks every server, through its driver, whether it answers, runs its
   services and reports the version the upgrade starts from, all servers the same versions,
   repository valid. It must have passed within RUN_PREFLIGHT_FRESH_MINUTES; the versions it
   found are what a rollback puts back.

A window that moves forgets what was recorded for its old time (upgrades.services.lifecycle).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from portal.dispatch import dispatch
from portal.models import User
from upgrades import drivers
from upgrades.choices import ReadinessKind, RunState, UpgradeKind
from upgrades.models import Readiness, Run
from upgrades.runflow import RunError
from upgrades.services.events import event_emit

COMPONENTS = ("cloudpaging", "openjdk", "tomcat")


def fresh_for() -> timedelta:
    return timedelta(minutes=settings.RUN_PREFLIGHT_FRESH_MINUTES)


def readiness_needed(run: Run) -> list[str]:
    """The kinds this run needs, in the order people see them."""
    kinds = []
    if run.deployment.is_virtual:
        kinds.append(ReadinessKind.SNAPSHOTS)
    if run.kind == UpgradeKind.MAJOR:
        kinds.append(ReadinessKind.BACKUP)
    kinds.append(ReadinessKind.PREFLIGHT)
    return kinds


@dataclass(frozen=True)
class ReadinessRow:
    """One thing S11 needs, as people see it on the live page and on "My windows"."""

    kind: str
    record: Readiness | None
    ok: bool
    problem: str  # why it does not count (yet), in words

    @property
    def label(self) -> str:
        return ReadinessKind(self.kind).label


def readiness_of(run: Run, *, now: datetime | None = None) -> list[ReadinessRow]:
    now = now or timezone.now()
    records = {record.kind: record for record in run.readiness.all()}  # prefetched by lists of runs
    rows = []
    for kind in readiness_needed(run):
        record = records.get(kind)
        problem = ""
        if record is None:
            problem = {
                ReadinessKind.SNAPSHOTS: "The customer confirms that the VM snapshots of every server are taken.",
                ReadinessKind.BACKUP: "The customer confirms the full StreamDB backup, or the engineer records taking it.",
                ReadinessKind.PREFLIGHT: "Run the preflight: every server is asked through its driver.",
            }[kind]
        elif not record.passed:
            problem = f"The preflight failed: {record.note}"
        elif kind == ReadinessKind.PREFLIGHT and now - record.recorded_at > fresh_for():
            minutes = settings.RUN_PREFLIGHT_FRESH_MINUTES
            problem = (f"The preflight passed at {timezone.localtime(record.recorded_at):%H:%M}, more than "
                       f"{minutes} minute{'s' if minutes != 1 else ''} ago: run it again.")
        rows.append(ReadinessRow(kind=kind, record=record, ok=not problem, problem=problem))
    return rows


def readiness_missing(run: Run, *, now: datetime | None = None) -> list[str]:
    return [row.problem for row in readiness_of(run, now=now) if not row.ok]


def _scheduled(run: Run) -> Run:
    locked = Run.objects.select_for_update().select_related("deployment").get(pk=run.pk)
    if locked.state != RunState.SCHEDULED:
        raise RunError(f"The run is {locked.get_state_display().lower()}: what comes before the start is settled.")
    return locked


def readiness_confirm(*, run: Run, kind: str, by: User, note: str = "") -> Readiness:
    """The customer confirms the VM snapshots or the StreamDB backup; the engineer may record the
    backup they took themselves."""
    if kind == ReadinessKind.SNAPSHOTS:
        if not run.may(by, "run.snapshots"):
            raise PermissionDenied("The customer's lead, application or server administrator confirms the VM snapshots.")
    elif kind == ReadinessKind.BACKUP:
        if not run.may(by, "run.backup"):
            raise PermissionDenied("The customer's lead, application or database administrator, or the run's "
                                   "engineer who took it, records the StreamDB backup.")
    else:
        raise RunError("The preflight is measured, not confirmed: run it.")
    if kind not in readiness_needed(run):
        raise RunError(f"This upgrade does not need that: {ReadinessKind(kind).label.lower()} is not asked for.")
    note = (note or "").strip()
    with transaction.atomic(), pghistory.context(user=by.pk, run=run.pk):
        locked = _scheduled(run)
        record, _ = Readiness.objects.update_or_create(
            run=locked, kind=kind,
            defaults={"passed": True, "note": note, "data": {}, "recorded_by": by, "recorded_at": timezone.now()},
        )
        # The page names the actor beside the text.
        words = ReadinessKind(kind).label + (", by the engineer" if kind == ReadinessKind.BACKUP and by.is_vendor else "")
        event_emit(run=locked, kind="run", actor=by, text=words + (f" ({note})" if note else ""),
                   data={"readiness": kind, "passed": True})
        return record


def preflight_request(*, run: Run, by: User) -> None:
    """Ask a worker for the run's preflight; the result arrives as an event on the live page."""
    if not run.may(by, "run.preflight"):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk, run=run.pk):
        locked = _scheduled(run)
        event_emit(run=locked, kind="run", actor=by, text="Preflight asked for",
                   data={"readiness": ReadinessKind.PREFLIGHT, "asked": True})
        dispatch("upgrades.run_preflight", locked.pk, by.pk, about=f"run:{locked.pk}:preflight")


def _problems(run: Run, probes: list[drivers.Probe]) -> tuple[list[str], dict[str, str]]:
    """What stands in the way, and the versions every server agrees on."""
    problems = []
    if not probes:
        problems.append("No server is registered for this deployment.")
    for probe in probes:
        if not probe.available or not probe.reachable:
            problems.append(f"{probe.hostname} did not answer: {probe.message or 'no driver reaches it'}")
            continue
        if probe.versions.get("cloudpaging") != run.from_version:
            problems.append(f"{probe.hostname} runs {probe.versions.get('cloudpaging') or 'nothing'}, "
                            f"not {run.from_version}")
        if probe.running is False or probe.configured is False:
            problems.append(f"{probe.hostname}: its services are not running")
        if probe.repository_ok is False:
            problems.append(f"{probe.hostname}: the repository is not valid (publishing status or moved .stp files)")
    found = {tuple(sorted(probe.versions.items())) for probe in probes if probe.reachable}
    if len(found) > 1:
        problems.append("The servers do not run the same versions: " + "; ".join(
            f"{probe.hostname} {', '.join(f'{k} {v}' for k, v in sorted(probe.versions.items()))}"
            for probe in probes if probe.reachable))
    common = dict(next(iter(found))) if len(found) == 1 else {}
    return problems, {name: common.get(name, "") for name in COMPONENTS}


def preflight_run(*, run_id: int, by_id: int | None = None) -> bool:
    """The preflight itself (a worker): every server at once, through its driver."""
    run = Run.objects.select_related("deployment").get(pk=run_id)
    if run.state != RunState.SCHEDULED:
        return False  # started meanwhile: nothing to prepare any more
    servers = list(run.deployment.servers.order_by("group__position", "role", "hostname"))
    probes = drivers.probe_servers(servers)
    problems, versions = _problems(run, probes)
    passed = not problems
    note = "; ".join(problems) if problems else (
        f"Every server ({len(probes)}) answers, runs its services and reports {versions['cloudpaging']} "
        f"(OpenJDK {versions['openjdk']}, Apache Tomcat {versions['tomcat']}); repository valid."
    )
    with transaction.atomic(), pghistory.context(run=run.pk, preflight=True):
        try:
            _scheduled(run)
        except RunError:
            return False
        Readiness.objects.update_or_create(
            run=run, kind=ReadinessKind.PREFLIGHT,
            defaults={"passed": passed, "note": note, "recorded_by_id": by_id, "recorded_at": timezone.now(),
                      "data": {"servers": [probe.as_dict() for probe in probes], "versions": versions}},
        )
        event_emit(run=run, kind="run", text=f"Preflight {'passed' if passed else 'failed'}: {note}",
                   data={"readiness": ReadinessKind.PREFLIGHT, "passed": passed})
    return passed


def preflight_versions(run: Run) -> dict[str, str]:
    """The versions the passed preflight found on every server: what a rollback puts back."""
    record = run.readiness.filter(kind=ReadinessKind.PREFLIGHT, passed=True).first()
    versions = (record.data or {}).get("versions", {}) if record else {}
    return {name: value for name, value in versions.items() if value}
