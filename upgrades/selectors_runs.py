"""Reads for the live page of a run and its report (S12-S17): one selector per thing a person
sees, tenancy through portal.selectors.visible_to, times in UTC (the templates show them in
the viewer's zone).

The live page and the report read the same rows: steps, live events (log lines, decisions),
check results, the prober's samples. Nothing here reads Celery's result backend.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from portal import dispatch
from portal.models import User
from portal.selectors import visible_to
from upgrades.choices import RollbackState, RunState, StepProcedure, StepState
from upgrades.models import AvailabilitySample, CheckResult, LiveEvent, RollbackDecision, Run, Step
from upgrades.procedure import PHASE_WORDS, Phase
from upgrades.runflow import DONE_STEP_STATES, FINISHED_RUN_STATES
from upgrades.selectors import downtime_of, step_next

LOG_TAIL = 200
# The chart shows at most this many points: the samples are thinned evenly beyond it.
CHART_POINTS = 240
# Events that say who did what (the log lines and step changes are shown elsewhere).
DECISION_KINDS = ("decision", "rollback", "run")

PHASE_BADGES = {
    Phase.PREPARATION: "info", Phase.AT_RISK: "warn", Phase.DOWNTIME: "danger", Phase.LIMITED: "warn",
    Phase.FULL: "ok",
}


def runs_visible(*, user: User) -> QuerySet[Run]:
    return visible_to(Run.objects.all(), user).select_related(
        "deployment__organisation", "request__release", "window__engineer", "driver", "started_by", "failure_owner",
        "probe",
    )


def run_get(*, user: User, pk: int) -> Run:
    """The run, or 404 for anyone it is not shown to (an outsider, anonymous)."""
    return get_object_or_404(runs_visible(user=user), pk=pk)


def run_watched(*, pk: int) -> Run:
    """A run whose events are rendered for its watchers: the stream checked each one's access."""
    return Run.objects.get(pk=pk)


def step_get(*, run: Run, pk: int) -> Step:
    return get_object_or_404(run.steps.select_related("confirmed_by_engineer", "confirmed_by_customer"), pk=pk)


# The steps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRow:
    step: Step
    late: bool  # finished (or still running) after its planned end

    @property
    def actual_seconds(self) -> float | None:
        step = self.step
        if step.started_at is None:
            return None
        return ((step.finished_at or timezone.now()) - step.started_at).total_seconds()


def _row(step: Step, now: datetime) -> StepRow:
    moment = step.finished_at or (now if step.state == StepState.RUNNING else None)
    return StepRow(step=step, late=bool(moment and step.planned_end and moment > step.planned_end))


def steps_of(run: Run, now: datetime | None = None) -> dict[str, list[StepRow]]:
    """The steps by procedure: the upgrade (preparation first, numbered as the seed), then any
    rollback or rebuild steps under their own heading."""
    now = now or timezone.now()
    steps = run.steps.select_related("confirmed_by_engineer", "confirmed_by_customer").order_by("position")
    grouped: dict[str, list[StepRow]] = {procedure: [] for procedure in StepProcedure.values}
    for step in steps:
        grouped[step.procedure].append(_row(step, now))
    return grouped


def step_waiting(run: Run) -> Step | None:
    return run.steps.filter(state=StepState.WAITING).order_by("position").first()


def step_failed(run: Run) -> Step | None:
    return run.steps.filter(state__in=(StepState.FAILED, StepState.INTERRUPTED)).order_by("position").first()


@dataclass(frozen=True)
class Motion:
    """Why a running run does not move: its next step waits for the task queue (Redis away), or
    nobody has taken it up for longer than a step takes to begin (the engineer may continue)."""

    waiting_for: str  # "queue" or "worker"
    since: datetime
    step: Step
    may_continue: bool


def motion_of(run: Run, now: datetime | None = None) -> Motion | None:
    """None while the run moves (a step runs, waits for people, has failed) or is not running."""
    if run.state != RunState.RUNNING:
        return None
    following = step_next(run)
    if following is None or following.state != StepState.PENDING:
        return None
    now = now or timezone.now()
    message = dispatch.latest(f"step:{following.pk}")
    if message is not None and message.sent_at is None and message.last_error:
        return Motion("queue", message.created_at, following, may_continue=False)
    done = run.steps.filter(state__in=DONE_STEP_STATES).exclude(finished_at=None).order_by("-finished_at").first()
    since = max(moment for moment in (
        message and (message.received_at or message.sent_at or message.created_at),
        done and done.finished_at, run.started_at) if moment)
    if now - since < timedelta(seconds=settings.RUN_STILL_AFTER_SECONDS):
        return None
    return Motion("worker", since, following, may_continue=True)


# The phase and the clock -------------------------------------------------------------------


def phase_words(run: Run) -> str:
    if run.state == RunState.ROLLED_BACK:
        return "Rolled back: the service is on its previous version"
    if run.state == RunState.ABORTED:
        return "The upgrade was stopped"
    return PHASE_WORDS.get(run.phase, run.phase)


def phase_badge(run: Run) -> str:
    return PHASE_BADGES.get(run.phase, "info")


@dataclass(frozen=True)
class Clock:
    """The window's clock: how far in, how much is left, when it ends."""

    start: datetime
    planned_end: datetime
    now: datetime
    started_at: datetime | None

    @property
    def elapsed(self) -> timedelta:
        begun = self.started_at or self.start
        return max(timedelta(0), self.now - begun)

    @property
    def remaining(self) -> timedelta:
        return max(timedelta(0), self.planned_end - self.now)

    @property
    def overrun(self) -> timedelta:
        return max(timedelta(0), self.now - self.planned_end)

    @property
    def fraction(self) -> float:
        total = (self.planned_end - self.start).total_seconds() or 1
        return min(1.0, max(0.0, (self.now - self.start).total_seconds() / total))


def clock_of(run: Run, now: datetime | None = None) -> Clock:
    now = now or timezone.now()
    if run.state in FINISHED_RUN_STATES and run.finished_at:
        now = run.finished_at  # a finished run's clock stops where it ended
    return Clock(start=run.planned_start, planned_end=run.planned_end, now=now, started_at=run.started_at)


def duration_words(delta: timedelta | float | None) -> str:
    """"1 h 05 min", "12 min 30 s", "8 s": short, for people watching a clock."""
    if delta is None:
        return ""
    seconds = int(delta.total_seconds() if isinstance(delta, timedelta) else delta)
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


# Log, checks, availability, decisions ----------------------------------------------------------


def log_tail(run: Run, *, upto: int, limit: int = LOG_TAIL) -> list[LiveEvent]:
    """The last `limit` log lines up to event `upto` (the page's cursor, `last_seq`), oldest
    first. Lines written while the page is rendered come after the cursor: the page's event
    stream brings them, once."""
    rows = list(run.live_events.filter(kind="log", seq__lte=upto).select_related("step").order_by("-seq")[:limit])
    return rows[::-1]


def log_all(run: Run) -> QuerySet[LiveEvent]:
    return run.live_events.filter(kind="log").select_related("step").order_by("seq")


def last_seq(run: Run) -> int:
    """The page's cursor: the number of the last event committed as `run` was read (its
    `next_seq` is raised in the transaction that writes the event, so every event up to it is
    committed). The page shows the log up to it (`log_tail`) and live.js asks for the events
    after it."""
    return run.next_seq - 1


def decisions_of(run: Run) -> list[LiveEvent]:
    """Who did what: starts, confirmations, decisions, rollbacks, sign-off."""
    return list(run.live_events.filter(kind__in=DECISION_KINDS).select_related("actor", "step").order_by("seq"))


@dataclass
class CheckRound:
    stage: str
    at: datetime
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)


def checks_of(run: Run) -> list[CheckRound]:
    """The functionality tests recorded for the deployment while the run ran, by round."""
    if run.started_at is None:
        return []
    results = CheckResult.objects.filter(deployment_id=run.deployment_id, recorded_at__gte=run.started_at)
    if run.finished_at:
        results = results.filter(recorded_at__lte=run.finished_at)
    rounds: dict = {}
    for result in results.select_related("recorded_by").order_by("recorded_at", "pk"):
        entry = rounds.setdefault(result.round, CheckRound(stage=result.stage, at=result.recorded_at))
        entry.results.append(result)
    return list(rounds.values())


def samples_of(run: Run, limit: int = CHART_POINTS) -> list[tuple[datetime, bool, float | None]]:
    """The prober's samples (at, up, latency), thinned to `limit` points; a down sample is always
    kept, so a short outage never disappears from the chart."""
    if run.probe_id is None:
        return []
    rows = list(AvailabilitySample.objects.filter(probe_id=run.probe_id).order_by("at")
                .values_list("at", "up", "latency_ms"))
    if len(rows) <= limit:
        return rows
    step = len(rows) / limit
    keep = {int(index * step) for index in range(limit)} | {i for i, row in enumerate(rows) if not row[1]}
    return [row for index, row in enumerate(rows) if index in keep]


@dataclass(frozen=True)
class Availability:
    samples: int
    up: int
    downtime: list[tuple[datetime, datetime]]

    @property
    def percent(self) -> float | None:
        return round(100 * self.up / self.samples, 2) if self.samples else None

    @property
    def down_seconds(self) -> float:
        return sum((end - start).total_seconds() for start, end in self.downtime)


def availability_of(run: Run) -> Availability:
    if run.probe is None:
        return Availability(samples=0, up=0, downtime=[])
    samples = run.probe.samples
    return Availability(samples=samples.count(), up=samples.filter(up=True).count(), downtime=downtime_of(probe=run.probe))


def chart_points(run: Run, *, width: int = 600, height: int = 80) -> dict:
    """The availability chart as SVG coordinates: latency as a line, down samples as red bars.
    Rendered on the server for the report and the live page, which asks for it again every 5 s."""
    samples = samples_of(run)
    if not samples:
        return {"points": "", "down": [], "width": width, "height": height}
    first, last = samples[0][0], samples[-1][0]
    span = max((last - first).total_seconds(), 1.0)
    ceiling = max([latency for _, up, latency in samples if latency] + [50.0])
    points, down = [], []
    for at, up, latency in samples:
        x = round((at - first).total_seconds() / span * width, 1)
        if up:
            points.append(f"{x},{round(height - (latency or 0) / ceiling * (height - 6) - 2, 1)}")
        else:
            down.append(x)
    return {"points": " ".join(points), "down": down, "width": width, "height": height,
            "first": first, "last": last}


# The board ----------------------------------------------------------------------------------


def board_of(run: Run, now: datetime | None = None) -> dict:
    """What the live page's board shows everybody alike: the phase and the clock, the steps, the
    tests and who did what. What a person may press is theirs alone (views.runs._controls)."""
    now = now or timezone.now()
    clock = clock_of(run, now)
    return {
        "run": run, "clock": clock, "steps": steps_of(run, now),
        "phase_words": phase_words(run), "phase_badge": phase_badge(run),
        "checks": checks_of(run), "decisions": decisions_of(run),
        "elapsed": duration_words(clock.elapsed), "remaining": duration_words(clock.remaining),
        "overrun": duration_words(clock.overrun) if clock.overrun else "",
        "finished": run.state in FINISHED_RUN_STATES,
    }


# Rollback ------------------------------------------------------------------------------------


def rollback_open(run: Run) -> RollbackDecision | None:
    return run.rollbacks.filter(state=RollbackState.REQUESTED).select_related("requested_by").first()


def rollbacks_of(run: Run) -> list[RollbackDecision]:
    return list(run.rollbacks.select_related("requested_by", "decided_by").order_by("requested_at"))


# The report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseSpan:
    phase: str
    words: str
    planned_start: datetime | None
    planned_end: datetime | None
    actual_start: datetime | None
    actual_end: datetime | None


def phases_of(run: Run) -> list[PhaseSpan]:
    """Planned against actual time per phase, from the upgrade steps in their order."""
    steps = list(run.steps.filter(procedure=StepProcedure.UPGRADE).order_by("position"))
    spans = []
    for phase, rows in groupby(steps, key=lambda step: step.phase):
        rows = list(rows)
        starts = [step.started_at for step in rows if step.started_at]
        ends = [step.finished_at for step in rows if step.finished_at]
        spans.append(PhaseSpan(
            phase=phase, words=PHASE_WORDS.get(phase, phase),
            planned_start=rows[0].planned_start, planned_end=rows[-1].planned_end,
            actual_start=min(starts) if starts else None, actual_end=max(ends) if ends else None,
        ))
    return spans


@dataclass(frozen=True)
class Announced:
    at_risk: tuple[datetime, datetime] | None
    downtime: tuple[datetime, datetime] | None


def announced_of(run: Run) -> Announced:
    """What the notice told the service users (S6): at risk from the first numbered step's
    planned start to the window's end; the major upgrade's downtime as booked."""
    first = run.steps.filter(procedure=StepProcedure.UPGRADE, number__isnull=False).order_by("position").first()
    at_risk = (first.planned_start, run.planned_end) if first and first.planned_start else None
    downtime = run.window.downtime
    return Announced(at_risk=at_risk, downtime=(downtime.lower, downtime.upper) if downtime else None)


# A timeline chart, laid out here and drawn by the report's template as SVG.
LABEL_WIDTH = 260
BAR_AREA = 560
ROW_HEIGHT = 22


def timeline_of(run: Run) -> dict:
    """Rows of planned and actual bars per step, x in pixels from the window's start."""
    steps = list(run.steps.order_by("position"))
    moments = [run.planned_start, run.planned_end] + [
        moment for step in steps for moment in (step.started_at, step.finished_at, step.planned_end) if moment
    ]
    begin, end = min(moments), max(moments)
    span = max((end - begin).total_seconds(), 1.0)

    def x(moment: datetime) -> float:
        return round(LABEL_WIDTH + (moment - begin).total_seconds() / span * BAR_AREA, 1)

    rows = []
    for index, step in enumerate(steps):
        y = 24 + index * ROW_HEIGHT
        planned = (x(step.planned_start), max(x(step.planned_end) - x(step.planned_start), 1)) \
            if step.planned_start and step.planned_end else None
        actual = None
        if step.started_at:
            finish = step.finished_at or (timezone.now() if step.state == StepState.RUNNING else step.started_at)
            actual = (x(step.started_at), max(x(finish) - x(step.started_at), 2))
        label = f"{step.number}. " if step.number else ("" if step.procedure == StepProcedure.UPGRADE else "↺ ")
        rows.append({"y": y, "label": (label + step.action)[:44], "planned": planned, "actual": actual,
                     "state": step.state, "kind": step.kind})
    ticks = []
    for quarter in range(5):
        moment = begin + timedelta(seconds=span * quarter / 4)
        ticks.append({"x": x(moment), "at": moment})
    return {"rows": rows, "ticks": ticks, "width": LABEL_WIDTH + BAR_AREA + 20,
            "height": 40 + len(steps) * ROW_HEIGHT, "label_width": LABEL_WIDTH,
            "planned_end_x": x(run.planned_end)}


def report_of(run: Run) -> dict:
    """What the report says (upgrades/run_report.html), as a page and as a PDF."""
    availability = availability_of(run)
    announced = announced_of(run)
    announced_down = (announced.downtime[1] - announced.downtime[0]).total_seconds() if announced.downtime else 0
    return {
        "run": run, "steps": steps_of(run), "phases": phases_of(run), "timeline": timeline_of(run),
        "announced": announced, "announced_down": duration_words(announced_down),
        "availability": availability, "measured_down": duration_words(availability.down_seconds),
        "chart": chart_points(run, width=760, height=90), "checks": checks_of(run),
        "decisions": decisions_of(run), "rollbacks": rollbacks_of(run), "log": log_all(run),
        "sign_off": getattr(run, "sign_off", None),
        "phase_words": phase_words(run), "generated_at": timezone.now(),
    }
