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
from django.utils.text import Truncator

from portal import dispatch
from portal.models import User
from portal.selectors import visible_to
from upgrades.choices import RollbackState, RunState, StepProcedure, StepState
from upgrades.models import AvailabilitySample, CheckResult, LiveEvent, RollbackDecision, Run, Step
from upgrades.procedure import PHASE_WORDS, Phase
from upgrades.runflow import DONE_STEP_STATES, FINISHED_RUN_STATES
from upgrades.selectors import conversation_of, downtime_of, step_next, step_pending
from upgrades.selectors_log import LOG_KEPT, LOG_TAIL, log_excerpt, log_tail  # noqa: F401 - the pages' log

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
    attempts: list = field(default_factory=list)  # the report's: every Attempt, when more than one
    projected: tuple[datetime, datetime] | None = None  # the report's, while the run is under way

    @property
    def actual_seconds(self) -> float | None:
        step = self.step
        if step.started_at is None:
            return None
        return ((step.finished_at or timezone.now()) - step.started_at).total_seconds()


def _row(step: Step, now: datetime, **report) -> StepRow:
    moment = step.finished_at or (now if step.state == StepState.RUNNING else None)
    return StepRow(step=step, late=bool(moment and step.planned_end and moment > step.planned_end), **report)


def steps_of(run: Run, now: datetime | None = None, *, attempts: dict[int, list["Attempt"]] | None = None,
             projection: "Projection | None" = None) -> dict[str, list[StepRow]]:
    """The steps by procedure: the upgrade (preparation first, numbered as the seed), then any
    rollback or rebuild steps under their own heading. The report adds each step's attempts
    (when it took more than one) and, during the run, when each step to come is projected."""
    now = now or timezone.now()
    steps = run.steps.select_related("confirmed_by_engineer", "confirmed_by_customer").order_by("position")
    grouped: dict[str, list[StepRow]] = {procedure: [] for procedure in StepProcedure.values}
    for step in steps:
        tried = (attempts or {}).get(step.pk, [])
        grouped[step.procedure].append(_row(
            step, now, attempts=tried if len(tried) > 1 else [],
            projected=projection.steps.get(step.pk) if projection else None,
        ))
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
    following = step_pending(run)
    if following is None:
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


def progress_notes(run: Run) -> list[str]:
    """What the engineer may post with one click while the run is under way ("starting group 2"):
    words for the step at hand, then the waits every upgrade knows."""
    if run.state not in (RunState.RUNNING, RunState.PAUSED):
        return []
    at_hand = step_next(run)
    notes = [f"Starting: {at_hand.action}"] if at_hand else []
    return notes + ["Going to plan so far.", "Waiting for your load balancer administrator.",
                    "Looking into a problem: more in a few minutes."]


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


def last_seq(run: Run) -> int:
    """The page's cursor: the number of the last event committed as `run` was read (its
    `next_seq` is raised in the transaction that writes the event, so every event up to it is
    committed). The page shows the log up to it (`log_tail`) and live.js asks for the events
    after it."""
    return run.next_seq - 1


@dataclass(frozen=True)
class Decision:
    """One line of "who did what". The services write most texts with the person's name and the
    reason in them ("Erin Walsh skipped “Stop group 2”: done by hand"): the name and the reason
    are said apart only where the text does not say them already."""

    at: datetime
    text: str
    who: str = ""
    reason: str = ""


def _decision(event: LiveEvent) -> Decision:
    name = event.actor.full_name if event.actor else ""
    reason = event.data.get("reason") or ""
    return Decision(at=event.at, text=event.text, who="" if name in event.text else name,
                    reason="" if reason in event.text else reason)


def decisions_of(run: Run) -> list[Decision]:
    """Who did what: starts, confirmations, decisions, rollbacks, sign-off."""
    events = run.live_events.filter(kind__in=DECISION_KINDS).select_related("actor").order_by("seq")
    return [_decision(event) for event in events]


@dataclass
class CheckRound:
    stage: str
    at: datetime
    results: list[CheckResult]

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
        entry = rounds.setdefault(result.round, CheckRound(stage=result.stage, at=result.recorded_at, results=[]))
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
    projection = projection_of(run, now)
    return {
        "run": run, "clock": clock, "steps": steps_of(run, now), "projection": projection,
        "late_by": duration_words(projection.late_by(run)) if projection else "",
        "phase_words": phase_words(run), "phase_badge": phase_badge(run),
        "checks": checks_of(run), "decisions": decisions_of(run),
        "elapsed": duration_words(clock.elapsed), "remaining": duration_words(clock.remaining),
        "overrun": duration_words(clock.overrun) if clock.overrun else "",
        "finished": run.state in FINISHED_RUN_STATES,
    }


# Rollback ------------------------------------------------------------------------------------


def rollback_open(run: Run) -> RollbackDecision | None:
    return run.rollbacks.filter(state=RollbackState.REQUESTED).select_related("requested_by").first()


# The report ------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One attempt of a step, as its events tell it: a retried step keeps the failure and the time
    it cost, which the step's row (the last attempt) no longer shows."""

    number: int
    started_at: datetime
    seq: int = 0  # the event that began it: the step's log lines from there on are this attempt's
    ended_seq: int | None = None  # the event that ended it, when one did
    finished_at: datetime | None = None
    state: str = StepState.RUNNING
    error: str = ""

    @property
    def seconds(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None

    @property
    def state_words(self) -> str:
        return StepState(self.state).label


ENDED_STEP_STATES = frozenset({StepState.SUCCEEDED, StepState.FAILED, StepState.INTERRUPTED, StepState.SKIPPED})


def attempts_of(run: Run) -> dict[int, list[Attempt]]:
    """Every attempt of every step that ran, by step, oldest first. The step's row has the last
    word on its last attempt (a step marked as fixed or skipped by a person moves without an event
    of its own); a step retried and not yet begun keeps its attempts as they ended."""
    attempts: dict[int, list[Attempt]] = {}
    for event in run.live_events.filter(kind="step").exclude(step=None).order_by("seq"):
        tried = attempts.setdefault(event.step_id, [])
        state, number = event.data.get("state"), event.data.get("attempt")
        if state == StepState.RUNNING and (not tried or tried[-1].number != number):
            tried.append(Attempt(number=number or len(tried) + 1, started_at=event.at, seq=event.seq))
        elif tried and state in ENDED_STEP_STATES:
            tried[-1].finished_at, tried[-1].state, tried[-1].error = event.at, state, event.data.get("error", "")
            tried[-1].ended_seq = event.seq
    for step in run.steps.exclude(started_at=None).exclude(state=StepState.PENDING):
        tried = attempts.setdefault(step.pk, [])
        if not tried or tried[-1].started_at < step.started_at - timedelta(seconds=1):
            tried.append(Attempt(number=step.attempts or len(tried) + 1, started_at=step.started_at))
        last = tried[-1]
        last.state, last.finished_at, last.error = step.state, step.finished_at, step.error
    return attempts


@dataclass(frozen=True)
class Pause:
    """The run stood still from `start` until `end` (None: it still does), for `why`."""

    start: datetime
    end: datetime | None
    why: str

    def seconds(self, now: datetime) -> float:
        return ((self.end or now) - self.start).total_seconds()


def pauses_of(run: Run) -> list[Pause]:
    """The run's paused stretches, from its state events (paused, then resumed or ended)."""
    pauses, since, why = [], None, ""
    for event in run.live_events.filter(kind="run", data__has_key="state").order_by("seq"):
        state = event.data["state"]
        if state == RunState.PAUSED and since is None:
            since, why = event.at, event.text
        elif state != RunState.PAUSED and since is not None:
            pauses.append(Pause(since, event.at, why))
            since = None
    if since is not None:
        pauses.append(Pause(since, run.finished_at, why))
    return pauses


@dataclass(frozen=True)
class PhaseSpan:
    phase: str
    words: str
    planned_start: datetime | None
    planned_end: datetime | None
    actual_start: datetime | None
    actual_end: datetime | None
    paused_seconds: float = 0.0  # of the paused time that fell inside this phase

    @property
    def paused(self) -> bool:
        return self.phase == RunState.PAUSED

    @property
    def took(self) -> str:
        if not (self.actual_start and self.actual_end):
            return ""
        return duration_words(self.actual_end - self.actual_start)

    @property
    def paused_words(self) -> str:
        return duration_words(self.paused_seconds) if self.paused_seconds >= 1 else ""


def _overlap(start: datetime, end: datetime, pause: Pause, now: datetime) -> float:
    return max(0.0, (min(end, pause.end or now) - max(start, pause.start)).total_seconds())


def phases_of(run: Run, attempts: dict[int, list[Attempt]] | None = None,
              now: datetime | None = None) -> list[PhaseSpan]:
    """Planned against actual time per phase, from the upgrade steps in their order; a phase
    starts with the first attempt of its first step. The run's paused stretches are rows of their
    own, in time order, and each phase says how much of its span the run stood still."""
    now = now or timezone.now()
    attempts = attempts_of(run) if attempts is None else attempts
    pauses = pauses_of(run)
    steps = list(run.steps.filter(procedure=StepProcedure.UPGRADE).order_by("position"))
    spans = []
    for phase, rows in groupby(steps, key=lambda step: step.phase):
        rows = list(rows)
        starts = [attempt.started_at for step in rows for attempt in attempts.get(step.pk, [])]
        ends = [step.finished_at for step in rows if step.finished_at]
        start, end = (min(starts) if starts else None), (max(ends) if ends else None)
        paused = sum(_overlap(start, end or now, pause, now) for pause in pauses) if start else 0.0
        spans.append(PhaseSpan(
            phase=phase, words=PHASE_WORDS.get(phase, phase),
            planned_start=rows[0].planned_start, planned_end=rows[-1].planned_end,
            actual_start=start, actual_end=end, paused_seconds=paused,
        ))
    spans += [PhaseSpan(phase=RunState.PAUSED, words=pause.why, planned_start=None, planned_end=None,
                        actual_start=pause.start, actual_end=pause.end) for pause in pauses]
    never = now + timedelta(days=3650)  # phases not reached keep their place at the end
    return sorted(spans, key=lambda span: span.actual_start or never)


@dataclass(frozen=True)
class Projection:
    """Where a run under way will end if every step left takes as long as planned, from now."""

    steps: dict[int, tuple[datetime, datetime]]  # step -> projected start and end, for steps to come
    end: datetime

    def late_by(self, run: Run) -> timedelta:
        return self.end - run.planned_end


def projection_of(run: Run, now: datetime | None = None) -> Projection | None:
    """None before the start and after the end. A running step ends at its planned length from
    its start, or now if it is over it; a paused run projects from now; each step to come then
    takes its planned length."""
    if run.state not in (RunState.RUNNING, RunState.PAUSED):
        return None
    now = now or timezone.now()
    moment, projected = now, {}
    for step in run.steps.filter(procedure=StepProcedure.UPGRADE).order_by("position"):
        if step.state in DONE_STEP_STATES:
            continue
        length = (step.planned_end - step.planned_start) if step.planned_start and step.planned_end else timedelta(0)
        if step.state == StepState.RUNNING and step.started_at:
            start, end = step.started_at, max(now, step.started_at + length)
        else:
            start = moment
            end = start + length
        projected[step.pk] = (start, end)
        moment = max(moment, end)
    return Projection(steps=projected, end=moment)


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


# A timeline chart, laid out here and drawn by the report's template as SVG. Its text is 14
# units high (run.css): printed on A4, the chart's 840 units are about 18 cm wide, so labels
# print at about 8.5 pt.
LABEL_WIDTH = 300
BAR_AREA = 520
ROW_HEIGHT = 24
LABEL_CHARACTERS = 38


def timeline_of(run: Run, attempts: dict[int, list[Attempt]], now: datetime | None = None) -> dict:
    """Rows of planned and actual bars per step, one actual bar per attempt (a failed one in red
    before its retry), x in pixels from the window's start."""
    now = now or timezone.now()
    steps = list(run.steps.order_by("position"))
    tried = [attempt for step in steps for attempt in attempts.get(step.pk, [])]
    moments = [run.planned_start, run.planned_end] + [
        moment for step in steps for moment in (step.planned_start, step.planned_end) if moment
    ] + [moment for attempt in tried for moment in (attempt.started_at, attempt.finished_at or now)]
    begin, end = min(moments), max(moments)
    span = max((end - begin).total_seconds(), 1.0)

    def x(moment: datetime) -> float:
        return round(LABEL_WIDTH + (moment - begin).total_seconds() / span * BAR_AREA, 1)

    rows = []
    for index, step in enumerate(steps):
        y = 28 + index * ROW_HEIGHT
        planned = (x(step.planned_start), max(x(step.planned_end) - x(step.planned_start), 1)) \
            if step.planned_start and step.planned_end else None
        actual = [(x(attempt.started_at), max(x(attempt.finished_at or now) - x(attempt.started_at), 2), attempt.state)
                  for attempt in attempts.get(step.pk, [])]
        label = f"{step.number}. " if step.number else ("" if step.procedure == StepProcedure.UPGRADE else "↺ ")
        rows.append({"y": y, "label": Truncator(label + step.action).chars(LABEL_CHARACTERS), "planned": planned,
                     "actual": actual, "state": step.state, "kind": step.kind})
    ticks = []
    for quarter in range(5):
        moment = begin + timedelta(seconds=span * quarter / 4)
        ticks.append({"x": x(moment), "at": moment})
    return {"rows": rows, "ticks": ticks, "width": LABEL_WIDTH + BAR_AREA + 20,
            "height": 40 + len(steps) * ROW_HEIGHT, "label_width": LABEL_WIDTH,
            "planned_end_x": x(run.planned_end)}


def report_of(run: Run, now: datetime | None = None, *, vendor: bool = False) -> dict:
    """What the report says (upgrades/run_report.html), as a page and as a PDF. The PDF is one
    for everybody: only a vendor's page shows the internal notes."""
    now = now or timezone.now()
    availability = availability_of(run)
    announced = announced_of(run)
    announced_down = (announced.downtime[1] - announced.downtime[0]).total_seconds() if announced.downtime else 0
    attempts = attempts_of(run)
    projection = projection_of(run, now)
    return {
        "run": run, "steps": steps_of(run, now, attempts=attempts, projection=projection),
        "phases": phases_of(run, attempts, now), "timeline": timeline_of(run, attempts, now),
        "projection": projection, "late_by": duration_words(projection.late_by(run)) if projection else "",
        "announced": announced, "announced_down": duration_words(announced_down),
        "availability": availability, "measured_down": duration_words(availability.down_seconds),
        "chart": chart_points(run, width=760, height=90), "checks": checks_of(run),
        "decisions": decisions_of(run), "log": log_excerpt(run, attempts),
        "conversation": conversation_of(run.request, vendor=vendor),
        "sign_off": getattr(run, "sign_off", None),
        "phase_words": phase_words(run), "generated_at": now,
    }
