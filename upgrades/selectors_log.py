"""Reads of a run's deployment log (its `log` live events). A run may print a million lines, so
nothing here reads the whole log at once:

- the live page shows the tail and pages back on demand (`log_before`), a search result is shown
  among its neighbours (`log_around`), the log's own page pages both ways (`log_after`);
- the report shows the whole of a short log, and of a long one the failed attempts' last lines
  and the tail (`log_excerpt`);
- the search asks PostgreSQL's trigram index (`log_search`), within a time limit;
- the download reads the log in chunks of consecutive numbers (`log_text`).

Pages are keyset pages on the events' per-run `seq` (index `upgrades_liveevent_run_kind`),
never OFFSET: the thousandth page costs what the first does.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from django.db import OperationalError, connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from upgrades.choices import StepState
from upgrades.models import LiveEvent, Run, Step

# A step's attempts are selectors_runs.Attempt (which reads this module): what matters here is
# their `seq`, `ended_seq` and `state`.
Attempts = dict[int, list]

# The live page's first lines, and one page of the log.
LOG_TAIL = 200
# The most lines the live page holds (static/portal/run.js drops the oldest beyond them).
LOG_KEPT = 1000
SEARCH_PAGE = 50
# Trigrams: a shorter phrase cannot use the index, and would read the whole log.
SEARCH_SHORTEST = 3
# The numbers a search reads in order before it asks the trigram index (log_search).
SEARCH_WINDOW = 20_000
# A search that would read most of a long log is stopped here rather than hold a connection.
SEARCH_TIMEOUT_MS = 4000
# A log up to this long is in the report whole; a longer one in excerpts.
REPORT_WHOLE = 2000
REPORT_TAIL = 200
REPORT_ATTEMPT_LINES = 50
REPORT_FAILED_ATTEMPTS = 10
DOWNLOAD_CHUNK = 5000
FAILED_STATES = (StepState.FAILED, StepState.INTERRUPTED)


def log_lines(run: Run) -> QuerySet[LiveEvent]:
    return run.live_events.filter(kind="log")


# Pages --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogPage:
    """Consecutive log lines, oldest first, and whether the log goes on before and after them."""

    lines: list[LiveEvent]
    older: bool
    newer: bool = False
    at: int | None = None  # the line asked for (a search result), shown marked

    @property
    def first_seq(self) -> int | None:
        return self.lines[0].seq if self.lines else None

    @property
    def last_seq(self) -> int | None:
        return self.lines[-1].seq if self.lines else None


def log_before(run: Run, *, before: int, limit: int = LOG_TAIL, newer: bool = False) -> LogPage:
    """The last `limit` lines numbered below `before`. `newer`: also say whether lines follow
    (the log's own page; the live page's stream brings them instead)."""
    rows = list(log_lines(run).filter(seq__lt=before).select_related("step").order_by("-seq")[: limit + 1])
    follows = newer and log_lines(run).filter(seq__gte=before).exists()
    return LogPage(lines=rows[:limit][::-1], older=len(rows) > limit, newer=follows)


def log_after(run: Run, *, after: int, limit: int = LOG_TAIL) -> LogPage:
    """The first `limit` lines numbered above `after`."""
    rows = list(log_lines(run).filter(seq__gt=after).select_related("step").order_by("seq")[: limit + 1])
    return LogPage(lines=rows[:limit], older=log_lines(run).filter(seq__lte=after).exists(), newer=len(rows) > limit)


def log_around(run: Run, *, at: int, limit: int = LOG_TAIL) -> LogPage:
    """Line `at` among its neighbours: a quarter of the page before it, the rest from it on."""
    before = log_before(run, before=at, limit=limit // 4)
    after = log_after(run, after=at - 1, limit=limit - len(before.lines))
    return LogPage(lines=before.lines + after.lines, older=before.older, newer=after.newer, at=at)


def log_tail(run: Run, *, upto: int, limit: int = LOG_TAIL) -> LogPage:
    """The last `limit` lines up to event `upto` (the live page's cursor): lines written while the
    page is rendered come after the cursor, and the page's event stream brings them, once."""
    return log_before(run, before=upto + 1, limit=limit)


# The search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogSearch:
    phrase: str
    matches: list[LiveEvent] = field(default_factory=list)
    more: bool = False  # matches after the last one shown
    refusal: str = ""  # why nothing was searched

    @property
    def last_seq(self) -> int | None:
        return self.matches[-1].seq if self.matches else None


def log_search(run: Run, *, phrase: str, after: int = 0, limit: int = SEARCH_PAGE) -> LogSearch:
    """The lines that contain `phrase` (any case), numbered above `after`, in order.

    1. Read the next `SEARCH_WINDOW` numbers in order (the (run, kind, seq) index): a phrase in
       many lines has its page there, at once. The trigram index cannot give lines in order, and
       for a phrase in every line it would gather all million before sorting them.
    2. If that page is not full, ask the trigram index for the rest of the log: the phrase is
       rare, and the index finds its few lines without reading the others.
    A search past its time limit (a phrase absent from the window and in many later lines) stops
    and says so."""
    phrase = phrase.strip()
    if len(phrase) < SEARCH_SHORTEST:
        return LogSearch(phrase, refusal=f"Type at least {SEARCH_SHORTEST} characters to search the log.")
    found = log_lines(run).filter(text__icontains=phrase).select_related("step").order_by("seq")
    window = after + SEARCH_WINDOW
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # The settings hold for this search alone: set back after it, and undone with the
            # savepoint when the time limit strikes.
            cursor.execute("SELECT current_setting('statement_timeout'), current_setting('enable_bitmapscan')")
            timeout, bitmaps = cursor.fetchone()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{SEARCH_TIMEOUT_MS}ms"])
            # PostgreSQL cannot tell how common a phrase is, and would ask the trigram index
            # (a bitmap scan) even for the window: the window is read in order.
            cursor.execute("SELECT set_config('enable_bitmapscan', 'off', true)")
            rows = list(found.filter(seq__gt=after, seq__lte=window)[: limit + 1])
            cursor.execute("SELECT set_config('enable_bitmapscan', %s, true)", [bitmaps])
            if len(rows) <= limit and window < run.next_seq:
                rows += list(found.filter(seq__gt=window)[: limit + 1 - len(rows)])
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [timeout])
    except OperationalError:  # the time limit: psycopg's QueryCanceled
        return LogSearch(phrase, refusal="That search took too long: try a longer phrase.")
    return LogSearch(phrase, matches=rows[:limit], more=len(rows) > limit)


# The report ---------------------------------------------------------------------------------


@dataclass
class LogSection:
    """Log lines in a row that one attempt of one step printed (or the run itself: no step)."""

    step: Step | None
    attempt: object | None  # selectors_runs.Attempt
    tries: int
    lines: list[LiveEvent] = field(default_factory=list)


def log_sections(lines: list[LiveEvent], attempts: Attempts) -> list[LogSection]:
    """`lines` in order, cut where the step or the attempt that printed them changes."""
    sections: list[LogSection] = []
    for line in lines:
        tried = attempts.get(line.step_id, [])
        attempt = next((attempt for attempt in reversed(tried) if attempt.seq <= line.seq), None)
        if not sections or sections[-1].step != line.step or sections[-1].attempt is not attempt:
            sections.append(LogSection(step=line.step, attempt=attempt, tries=len(tried)))
        sections[-1].lines.append(line)
    return sections


@dataclass(frozen=True)
class LogExcerpt:
    """What the report shows of the log: all of it (`whole`), or the last lines of each attempt
    that failed and the log's tail."""

    whole: bool
    sections: list[LogSection]
    failed: list[LogSection] = field(default_factory=list)
    tail_lines: int = REPORT_TAIL
    attempt_lines: int = REPORT_ATTEMPT_LINES


def _failed_attempt(run: Run, step_id: int, attempt, attempts: Attempts) -> LogSection:
    lines = log_lines(run).filter(step_id=step_id, seq__gte=attempt.seq)
    if attempt.ended_seq:
        lines = lines.filter(seq__lte=attempt.ended_seq)
    rows = list(lines.select_related("step").order_by("-seq")[:REPORT_ATTEMPT_LINES])[::-1]
    tried = attempts.get(step_id, [])
    step = rows[0].step if rows else Step.objects.get(pk=step_id)
    return LogSection(step=step, attempt=attempt, tries=len(tried), lines=rows)


def log_excerpt(run: Run, attempts: Attempts) -> LogExcerpt:
    if not log_lines(run)[REPORT_WHOLE: REPORT_WHOLE + 1].exists():
        return LogExcerpt(whole=True, sections=log_sections(list(log_lines(run).select_related("step").order_by("seq")),
                                                            attempts))
    failed = sorted(((attempt.seq, step_id, attempt) for step_id, tried in attempts.items() for attempt in tried
                     if attempt.state in FAILED_STATES), key=lambda found: found[0])[-REPORT_FAILED_ATTEMPTS:]
    tail = log_before(run, before=run.next_seq, limit=REPORT_TAIL).lines
    return LogExcerpt(whole=False, sections=log_sections(tail, attempts),
                      failed=[_failed_attempt(run, step_id, attempt, attempts) for _, step_id, attempt in failed])


# The download -------------------------------------------------------------------------------


def _step_label(step: Step) -> str:
    return f"Step {step.number}: {step.action}" if step.number else step.action


def log_text(run: Run, *, upto: int) -> Iterator[str]:
    """The log up to event `upto` as plain text, in chunks of `DOWNLOAD_CHUNK` lines: a heading
    where the step that prints changes, then one line per line, its time in UTC (written by
    PostgreSQL, which is quicker at it). Each chunk is one short query (the lines after the last
    one sent), so a slow reader holds no transaction and the server holds one chunk at a time."""
    steps = {step.pk: _step_label(step) for step in run.steps.all()}
    yield (f"Deployment log: {run.deployment.organisation.name}, {run.deployment.name}, "
           f"upgrade {run.from_version} to {run.to_version} (run {run.pk}). Times in UTC.\n")
    stamp = RawSQL("""to_char("upgrades_liveevent"."at" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS ')""", [])
    after, printing = 0, -1
    while True:
        rows = list(log_lines(run).filter(seq__gt=after, seq__lte=upto).order_by("seq").annotate(stamp=stamp)
                    .values_list("seq", "step_id", "stamp", "text")[:DOWNLOAD_CHUNK])
        if not rows:
            return
        chunk = []
        for _, step_id, at, text in rows:
            if step_id != printing:
                chunk.append(f"\n== {steps.get(step_id, 'The run')} ==\n")
                printing = step_id
            chunk += (at, text, "\n")
        yield "".join(chunk)
        after = rows[-1][0]
