"""One command for the whole portal on one machine: `python -m portal.supervisor run|test|exec`.

`run` (what `make run` does):
1. Uses DATABASE_URL and REDIS_URL when they are set, else starts the embedded PostgreSQL and
   Redis under the data folder (`portal.embedded`).
2. Without EMAIL_HOST, starts the SMTP sink (`portal.mailsink`) and points e-mail at it; the
   sink posts replies to the conversation mails to the web's /mail/inbound/.
3. `manage.py prepare`, meanwhile: the migrations not yet applied (none: no `migrate`), and the
   demo data when the database has none; skipped when the migration files and the database are
   those it last prepared (`.data/prepared`). Data already there is left as it was: re-arming the
   live upgrade demo is an administrator's choice (`manage.py demo --rearm`), never a start's.
   Django is set up once meanwhile, in a fork server (`portal.preload`): each child but the
   mail sink is forked from it ready, instead of setting Django up again for seconds of CPU.
4. Starts the children listed by `children()` all at once, says each one's pid, prefixes each
   line they print with their name, and prints where to log in once /healthz answers 200: it
   names every part started here (HEALTH_PARTS, HEALTH_WORKERS), so ready means the lab fleet
   listens, the identity providers and the mail sink answer, the workers answer a ping and the
   dispatcher goes round.
5. Keeps them alive (`keep_alive`): a child that dies (the mail sink too) is said to have died,
   whatever it left in its process group is killed (the worker's pool processes), and it alone
   is started again after a delay; the others keep running untouched. The delay is
   RESTART_FIRST_DELAY_SECONDS (1 s), doubled at each death that follows soon after a start, up
   to RESTART_LONGEST_DELAY_SECONDS (30 s); a child that stayed up RESTART_STEADY_SECONDS (60 s)
   starts again from 1 s. More than RESTART_LIMIT (5) deaths of one child within
   RESTART_WINDOW_SECONDS (5 min) is a fault a restart will not mend: the supervisor says so
   and stops everything as in step 6, with exit status 1.
6. Ctrl-C or SIGTERM stops every child (SIGTERM, then SIGKILL after a grace period), then the
   fork server and the embedded servers; the exit status is 0, also while a restart waits for its delay.

`test -- ARGS` (what `make test` does): step 1 and the secrets, DEBUG=0, then pytest with ARGS;
its exit status is ours. `exec -- COMMAND` does the same for any command, leaving DEBUG alone
(`make bench`).

Runs before settings are usable, and never imports Django itself.
"""

import argparse
import hashlib
import json
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from portal import embedded

PROJECT_DIR = embedded.PROJECT_DIR
PYTHON = sys.executable
STOP_GRACE_SECONDS = 10
HEALTH_TIMEOUT_SECONDS = 120
WATCH_TICK_SECONDS = 0.5
# A child that died is started again after these delays (see the module's docstring).
RESTART_FIRST_DELAY_SECONDS = 1
RESTART_LONGEST_DELAY_SECONDS = 30
RESTART_STEADY_SECONDS = 60
RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 300


# The Celery workers of `make run`, by name: /healthz waits for both to answer a ping.
WORKER = f"make-run-worker@{socket.gethostname()}"
PROBER = f"make-run-prober@{socket.gethostname()}"
# The only workers of this portal: nobody to synchronise with at start (mingle waits a second
# for answers) or to gossip with.
ALONE = ["--without-mingle", "--without-gossip"]
DISPATCHER_ALIVE = "dispatcher.alive"
# Written once `manage.py prepare` has succeeded: the fingerprint of what it brought up to date.
PREPARED = "prepared"
HEALTH_PARTS = "mail,identity,lab,workers,dispatcher,beat"


@dataclass(frozen=True)
class Child:
    name: str
    argv: list[str]
    # Forked from the fork server, where Django is set up already (portal.preload).
    preloaded: bool = False


def children(*, port: int, data: Path) -> list[Child]:
    """The long-running processes of `make run`. Add one here to have it started and watched."""
    return [
        Child(
            "web",
            # Several processes (WEB_PROCESSES) behind one port: portal.web.
            [PYTHON, "-m", "portal.web", "--bind", f"127.0.0.1:{port}", "--access-log"],
            preloaded=True,
        ),
        Child(
            "worker",
            [
                PYTHON, "-m", "celery", "-A", "portal", "worker", "--queues", "celery",
                "--concurrency", "2", "--hostname", WORKER, "--loglevel", "INFO", *ALONE,
            ],
            preloaded=True,
        ),
        # Availability probes in a worker of their own, so that a step's worker dying does not
        # stop the measuring.
        Child(
            "prober",
            [
                PYTHON, "-m", "celery", "-A", "portal", "worker", "--queues", "probes",
                "--pool", "threads", "--concurrency", "8", "--hostname", PROBER,
                "--loglevel", "INFO", *ALONE,
            ],
            preloaded=True,
        ),
        Child(
            "beat",
            [
                PYTHON, "-m", "celery", "-A", "portal", "beat", "--scheduler", "portal.beat:Scheduler",
                "--schedule", str(data / "celerybeat-schedule"), "--loglevel", "INFO",
            ],
            preloaded=True,
        ),
        # Hands recorded tasks to Celery and sweeps stale steps and probes.
        Child(
            "dispatcher", [PYTHON, "manage.py", "dispatcher", "--alive-file", str(data / DISPATCHER_ALIVE)],
            preloaded=True,
        ),
        # The demo deployments' simulated servers and load balancers (upgrades/lab/), state
        # kept in the data folder's lab/.
        # Operations take 2 s: a newcomer watches a whole major upgrade of the demo run in a few
        # minutes, yet sees each step run.
        Child(
            "lab", [PYTHON, "manage.py", "labfleet", "--data-dir", str(data / "lab"), "--op-seconds", "2"],
            preloaded=True,
        ),
        # Northwind's and Fabrikam's identity providers, for single sign-on (portal/identity_lab/).
        Child("identity", [PYTHON, "manage.py", "identitylab"], preloaded=True),
    ]


class Stop(Exception):
    """SIGINT or SIGTERM arrived: leave what we are doing and shut down."""


def _raise_stop(signum, frame):
    # One stop is enough: the shutdown that follows must not be interrupted half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stop(signal.Signals(signum).name)


class Terminal:
    """Prints whole lines from several threads, each behind its writer's name."""

    def __init__(self, width: int = 10):
        self.width = width
        self.lock = threading.Lock()

    def say(self, name: str, line: str) -> None:
        with self.lock:
            sys.stdout.write(f"{name:>{self.width}} | {line.rstrip()}\n")
            sys.stdout.flush()

    def pump(self, name: str, stream) -> threading.Thread:
        def copy():
            for line in stream:
                self.say(name, line)

        thread = threading.Thread(target=copy, name=f"output of {name}", daemon=True)
        thread.start()
        return thread


terminal = Terminal()


def say(line: str = "") -> None:
    terminal.say("portal", line)


@dataclass(frozen=True)
class RestartPolicy:
    """When a child that died is started again, and when the supervisor gives up on it."""

    first_delay: float = RESTART_FIRST_DELAY_SECONDS
    longest_delay: float = RESTART_LONGEST_DELAY_SECONDS
    steady_after: float = RESTART_STEADY_SECONDS
    limit: int = RESTART_LIMIT
    window: float = RESTART_WINDOW_SECONDS


@dataclass
class Deaths:
    """One child's deaths: those within the policy's window, and how many in a row came soon
    after a start (the back-off's exponent)."""

    times: deque[float] = field(default_factory=deque)
    in_a_row: int = 0

    def record(self, *, at: float, up_for: float, policy: RestartPolicy) -> float | None:
        """Count a death; return the delay before the restart, or None past the limit."""
        while self.times and at - self.times[0] > policy.window:
            self.times.popleft()
        self.times.append(at)
        if len(self.times) > policy.limit:
            return None
        if up_for >= policy.steady_after:
            self.in_a_row = 0
        delay = min(policy.first_delay * 2**self.in_a_row, policy.longest_delay)
        self.in_a_row += 1
        return delay


# Django set up once, for every child that needs it (portal.preload).
FORK_SERVER = multiprocessing.get_context("forkserver")


def _start_fork_server() -> None:
    """Started once the environment is complete: a forked child has the server's, not ours.
    Returns once the server has set Django up (the mail sink gets ready meanwhile) and forked a
    process that does nothing: a Ctrl-C during that wait leaves no child half-started, which
    would run on unwatched and keep the server from stopping."""
    FORK_SERVER.set_forkserver_preload(["portal.preload"])
    # It shares the terminal's process group, and a Ctrl-C is ours to handle, by stopping the
    # children, then it: spawned with SIGINT held, it ignores SIGINT from its first line on
    # (portal.preload), and so do the children it forks. Held, not ignored, on this side (as
    # multiprocessing starts its resource tracker): a Ctrl-C in the meantime waits for us instead
    # of being lost. The tracker first, as it lets SIGINT through once it is started.
    multiprocessing.resource_tracker.ensure_running()
    ours = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, ours)
    Forked([PYTHON, "-c", ""]).wait()


def _stop_fork_server() -> None:
    """Once every child has stopped: waits for the server and its resource tracker, so that
    nothing outlives the stop and the CPU time of the server and its children counts as ours.
    multiprocessing leaves them to end by themselves after we do; its own tests stop them so."""
    multiprocessing.forkserver._forkserver._stop()
    multiprocessing.resource_tracker._resource_tracker._stop()


def _run_preloaded(argv: list[str], output: socket.socket) -> None:
    from portal import preload

    preload.run(argv, output=output, directory=str(PROJECT_DIR))


class Forked:
    """A child forked from the fork server, with as much of Popen as the watch uses."""

    def __init__(self, argv: list[str]):
        self.args = argv
        ours, theirs = socket.socketpair()
        with theirs:
            self.forked = FORK_SERVER.Process(target=_run_preloaded, args=(argv, theirs))
            self.forked.start()
        self.pid = self.forked.pid
        self.stdout = ours.makefile("r", errors="replace")
        ours.close()  # the reader above keeps it open

    def poll(self) -> int | None:
        return self.forked.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self.forked.join(timeout)
        if self.forked.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.forked.exitcode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)


class Running:
    """A started child: its process (leader of a process group of its own), its output, its
    deaths and, after one, when it is due to start again."""

    def __init__(self, child: Child):
        self.child = child
        self.deaths = Deaths()
        self.restart_at: float | None = None
        self.start()
        say(f"{child.name} started (pid {self.process.pid})")

    def start(self) -> None:
        # A group of its own, so that a Ctrl-C in the terminal reaches only the supervisor,
        # which then stops the children in order; killing the group also takes the worker's
        # pool processes. A forked child makes its group itself (portal.preload).
        if self.child.preloaded:
            self.process = Forked(self.child.argv)
        else:
            self.process = subprocess.Popen(
                self.child.argv,
                cwd=PROJECT_DIR,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                process_group=0,
            )
        self.started_at = time.monotonic()
        self.restart_at = None
        self.output = terminal.pump(self.child.name, self.process.stdout)

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def stop_all(running: list[Running], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every child, wait up to `grace` seconds, SIGKILL the groups of those left."""
    for each in running:
        if each.process.poll() is None:
            each.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for each in running:
        try:
            each.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{each.child.name} did not stop within {grace:.0f} s: killing it")
    for each in running:
        # Also whatever the child left behind in its group (the worker's pool processes).
        each.signal_group(signal.SIGKILL)
        each.process.wait()
        each.output.join(timeout=2)


def _prepare_services(stack: ExitStack, data: Path) -> None:
    """Step 1: DATABASE_URL and REDIS_URL, embedded ones for those not set."""
    if "DATABASE_URL" not in os.environ:
        say(f"Starting the embedded PostgreSQL in {data / 'postgres'}")
        os.environ["DATABASE_URL"] = stack.enter_context(embedded.postgres(data))
    if "REDIS_URL" not in os.environ:
        say(f"Starting the embedded Redis in {data / 'redis'}")
        os.environ["REDIS_URL"] = stack.enter_context(embedded.redis(data))


def _prepare_secrets(data: Path) -> None:
    for name, value in embedded.secrets_env(data).items():
        os.environ.setdefault(name, value)


def _manage(running: list[Running], *args: str) -> None:
    """Run one management command to its end, watched like a child while it runs."""
    step = Running(Child(args[0], [PYTHON, "manage.py", *args], preloaded=True))
    running.append(step)
    status = step.process.wait()
    step.output.join(timeout=2)
    running.remove(step)
    if status != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed with status {status}")


def _demo_logins() -> tuple[str, list[tuple[str, str]]]:
    # In a process of its own: Django set up here would also take over this process's logging.
    code = "import json; from portal import demo; print(json.dumps([demo.PASSWORD, demo.logins()]))"
    lister = Forked([PYTHON, "-c", code])
    said = lister.stdout.read()
    status = lister.wait()
    if status != 0:
        raise subprocess.CalledProcessError(status, lister.args, stderr=said)
    password, logins = json.loads(said.splitlines()[-1])
    return password, [tuple(login) for login in logins]


def _wait_for_port(port: int, *, name: str, process: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not listen on port {port} within {timeout:.0f} s")


# Straight to loopback, whatever proxy the environment names.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(url: str) -> bool:
    try:
        with _direct.open(f"{url}healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _banner(url: str, data: Path, *, mail_sink: bool) -> None:
    say()
    say(f"The portal is running at {url}")
    try:
        password, logins = _demo_logins()
    except subprocess.CalledProcessError as error:
        say(f"(The demo logins could not be listed: {error.stderr.strip().splitlines()[-1:]})")
    else:
        say(f"Log in with the password {password!r} as one of:")
        width = max(len(email) for email, _ in logins)
        for email, description in logins:
            say(f"  {email:<{width}}  {description}")
    say("Or \"Log in with single sign-on\" as a Northwind (OpenID Connect) or Fabrikam (SAML) contact, such")
    say("as rahul.mehta@northwind.example, through the demo identity providers, with the same password.")
    if mail_sink:
        say(f"E-mail it sends is kept in the Maildir {data / 'mail'}")
    say("Stop everything with Ctrl-C.")
    say()


def run() -> int:
    data = embedded.data_dir()
    port = int(os.environ.get("PORT", "8000"))
    url = f"http://127.0.0.1:{port}/"
    running: list[Running] = []
    try:
        with ExitStack() as services:
            try:
                fingerprint = _schema_fingerprint(database=os.environ.get("DATABASE_URL") or str(data / "postgres"))
                _prepare_services(services, data)
                os.environ.setdefault("DEBUG", "1")
                os.environ["DATABASE_POOL"] = "1"
                os.environ.setdefault("SITE_URL", url.rstrip("/"))
                os.environ.setdefault("PYTHONUNBUFFERED", "1")
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
                # Celery runs Django's system checks at each worker's and beat's start and drops
                # what they find; the management commands among the children report them.
                os.environ.setdefault("CELERY_SKIP_CHECKS", "1")
                _prepare_secrets(data)
                _prepare_health(data)
                mail_sink = "EMAIL_HOST" not in os.environ
                sink = _start_mail_sink(running) if mail_sink else None
                _start_fork_server()
                _prepare_database(running, data, fingerprint=fingerprint)
                if sink is not None:
                    _wait_for_port(int(os.environ["EMAIL_PORT"]), name="The SMTP sink", process=sink.process)
                # One by one: a Ctrl-C half-way must still find those already started.
                for child in children(port=port, data=data):
                    running.append(Running(child))
                return keep_alive(running, check=_announce_when_healthy(url, data, mail_sink=mail_sink))
            except Stop as stop:
                say(f"{stop}: stopping")
                return 0
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                stop_all(running)
                _stop_fork_server()
    finally:
        say("Stopped.")


def _schema_fingerprint(*, database: str) -> str:
    """What `manage.py prepare` found in order, as far as the files tell: the project's migrations
    (by name), the packages' (through uv.lock) and which database."""
    digest = hashlib.sha256(database.encode())
    for path in sorted(PROJECT_DIR.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(PROJECT_DIR)).encode())
    digest.update((PROJECT_DIR / "uv.lock").read_bytes())
    return digest.hexdigest()


def _prepare_database(running: list[Running], data: Path, *, fingerprint: str) -> None:
    """Step 3. After a start that prepared the same database with the same migrations, nothing is
    left to do: `manage.py prepare` (a second or more of Django setting itself up) is skipped."""
    stamp = data / PREPARED
    if stamp.exists() and stamp.read_text() == fingerprint:
        say("Same migrations as at the last start, demo data there: nothing to prepare.")
        return
    stamp.unlink(missing_ok=True)
    _manage(running, "prepare")
    stamp.write_text(fingerprint)


def _prepare_health(data: Path) -> None:
    """/healthz waits for every part started here; the dispatcher's alive file of an earlier
    start must not stand for this one's."""
    (data / DISPATCHER_ALIVE).unlink(missing_ok=True)
    os.environ["DISPATCHER_ALIVE_FILE"] = str(data / DISPATCHER_ALIVE)
    os.environ.setdefault("HEALTH_PARTS", HEALTH_PARTS if "EMAIL_HOST" not in os.environ else
                          HEALTH_PARTS.replace("mail,", ""))
    os.environ.setdefault("HEALTH_WORKERS", f"{WORKER},{PROBER}")


def _start_mail_sink(running: list[Running]) -> Running:
    """Started, not waited for: it gets ready while `prepare` runs."""
    port = int(os.environ.setdefault("MAIL_SINK_PORT", "8025"))
    sink = Running(Child("mail", [PYTHON, "-m", "portal.mailsink"]))
    running.append(sink)
    os.environ["EMAIL_HOST"] = "127.0.0.1"
    os.environ["EMAIL_PORT"] = str(port)
    # Replies to the conversation mails come back through the sink to the web (/mail/inbound/),
    # with a secret of this start's; set before the fork server loads the settings.
    os.environ.setdefault("INBOUND_MAIL_URL", os.environ["SITE_URL"] + "/mail/inbound/")
    os.environ.setdefault("INBOUND_MAIL_SECRET", secrets.token_urlsafe(32))
    return sink


def _announce_when_healthy(url: str, data: Path, *, mail_sink: bool) -> Callable[[], int | None]:
    """A check for `keep_alive`: print the banner once the web answers; 1 if it never does."""
    started = time.monotonic()
    announced = False

    def check() -> int | None:
        nonlocal announced
        if announced:
            return None
        if _healthy(url):
            _banner(url, data, mail_sink=mail_sink)
            announced = True
        elif time.monotonic() - started > HEALTH_TIMEOUT_SECONDS:
            say(f"{url}healthz has not answered 200 after {HEALTH_TIMEOUT_SECONDS} s: stopping everything")
            return 1
        return None

    return check


def keep_alive(
    running: list[Running],
    *,
    policy: RestartPolicy = RestartPolicy(),
    check: Callable[[], int | None] = lambda: None,
    tick: float = WATCH_TICK_SECONDS,
) -> int:
    """Until a signal (Stop): restart each child that dies, after its delay. Returns 1 once a
    child has died more often than the policy allows, or what `check` returns when not None."""
    while True:
        for each in running:
            if each.restart_at is None:
                status = each.process.poll()
                if status is not None and not _bury(each, status, policy):
                    return 1
            elif time.monotonic() >= each.restart_at:
                each.start()
                say(f"{each.child.name} restarted (pid {each.process.pid})")
        status = check()
        if status is not None:
            return status
        time.sleep(tick)


def _bury(each: Running, status: int, policy: RestartPolicy) -> bool:
    """Say how `each` died and plan its restart; False when it has died too often."""
    now = time.monotonic()
    # Whatever it left in its group (the worker's pool processes) goes now, not at the restart:
    # it must not go on working for a parent that is gone.
    each.signal_group(signal.SIGKILL)
    each.output.join(timeout=2)  # its last lines before the line about its death
    delay = each.deaths.record(at=now, up_for=now - each.started_at, policy=policy)
    how = f"was killed by {signal.Signals(-status).name}" if status < 0 else f"exited with status {status}"
    deaths, window = len(each.deaths.times), _duration(policy.window)
    if delay is None:
        say(
            f"{each.child.name} {how}: {deaths} deaths within {window}, more than the {policy.limit}"
            " allowed: giving up, stopping everything"
        )
        return False
    each.restart_at = now + delay
    say(
        f"{each.child.name} {how}: restarting it in {_duration(delay)}"
        f" (death {deaths} of {policy.limit} allowed in {window})"
    )
    return True


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def execute(command: list[str], *, environment: dict[str, str]) -> int:
    """Run one command with the services ready and the secrets set, then stop the services."""
    data = embedded.data_dir()
    process = None
    with ExitStack() as services:
        try:
            _prepare_services(services, data)
            os.environ.update(environment)
            _prepare_secrets(data)
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
            process = subprocess.Popen(command, cwd=PROJECT_DIR)
            # The command shares our terminal and process group: a Ctrl-C reaches it directly
            # and it decides how to end; a SIGTERM sent to us alone is passed on.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signal.SIGTERM))
            return process.wait()
        except Stop:
            if process is not None:
                process.terminate()
                process.wait()
            return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.supervisor", description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["run", "test", "exec"])
    parser.add_argument("args", nargs=argparse.REMAINDER, help="after --: pytest's arguments, or the command")
    options = parser.parse_args(argv)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args

    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    if options.mode == "run":
        return run()
    if options.mode == "test":
        # Production settings; what tests change for plain HTTP is in pyproject's pytest env.
        return execute([PYTHON, "-m", "pytest", *args], environment={"DEBUG": "0"})
    if not args:
        parser.error("exec needs a command after --")
    return execute(args, environment={})


if __name__ == "__main__":
    sys.exit(main())
