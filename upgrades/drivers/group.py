"""Running one operation on the servers of a group, concurrently, whatever their drivers.

Every failure becomes a failed `Result` with a clear message and the lines so far: an
unreachable server, a refused key, a timeout, a bug in a driver. Nothing here hangs past its
timeout or raises into the caller.

`operate` is for synchronous callers (Celery tasks, services): the operations run in an event
loop in a thread of their own, and the log lines are handed to `on_lines` in the caller's thread
as they arrive, in batches while they come fast, so the callback may write them to the database.
"""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

from upgrades.drivers.base import Driver, DriverError, LogLine, Operation, Result, Target
from upgrades.drivers.lab import LabDriver
from upgrades.drivers.ssh import SshDriver

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0
OnLine = Callable[[LogLine], None]
OnLines = Callable[[list[LogLine]], None]
# Log lines are handed to a synchronous caller at most this often, at most this many at a time.
BATCH_SECONDS = 0.05
BATCH_LINES = 500
_DONE = object()


DRIVERS = {"lab": LabDriver, "ssh": SshDriver}  # by portal.choices.Driver


def driver_for(kind: str) -> Driver:
    if kind not in DRIVERS:
        raise DriverError(f"No driver is called {kind!r}")
    return DRIVERS[kind]()


async def operate_one(target: Target, operation: Operation, *, params: dict | None = None,
                      on_line: OnLine | None = None, timeout: float = DEFAULT_TIMEOUT) -> Result:
    lines: list[str] = []

    def emit(text: str) -> None:
        lines.append(text)
        if on_line is not None:
            on_line(LogLine(hostname=target.hostname, operation=operation.value, text=text, at=datetime.now(UTC)))

    started = time.perf_counter()

    def result(ok: bool, message: str, data: dict | None = None) -> Result:
        return Result(hostname=target.hostname, operation=operation.value, ok=ok, message=message,
                      lines=tuple(lines), data=data or {}, seconds=time.perf_counter() - started)

    try:
        async with asyncio.timeout(timeout):
            outcome = await driver_for(target.driver).perform(target, operation, dict(params or {}), emit, timeout)
    except DriverError as error:
        return result(False, str(error))
    except TimeoutError:
        return result(False, f"{operation} on {target.hostname} did not end within {timeout:g} s")
    except Exception as error:  # a driver's bug must not take the caller down with it
        logger.exception("The %s driver failed on %s", target.driver, target.hostname)
        return result(False, f"The {target.driver} driver failed unexpectedly: {error.__class__.__name__}")
    return result(outcome.ok, outcome.message, outcome.data)


async def operate_async(*, targets: Sequence[Target], operation: Operation, params: dict | None = None,
                        on_line: OnLine | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[Result]:
    """The operation on every target at once; results in the targets' order."""
    return list(await asyncio.gather(*(
        operate_one(target, operation, params=params, on_line=on_line, timeout=timeout) for target in targets
    )))


def operate(*, targets: Sequence[Target], operation: Operation, params: dict | None = None,
            on_lines: OnLines | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[Result]:
    """`operate_async` for a synchronous caller. The log lines are handed to `on_lines` in the
    caller's thread, in order and in batches: a line that comes after a quiet moment at once,
    and while servers print fast, what came in the last BATCH_SECONDS together (at most
    BATCH_LINES), so that a caller writing each batch to the database writes at most 20 a
    second however fast they print. Every line is handed over before this returns."""
    lines: queue.SimpleQueue = queue.SimpleQueue()
    outcome: dict = {}

    def loop() -> None:
        try:
            outcome["results"] = asyncio.run(operate_async(
                targets=targets, operation=operation, params=params, on_line=lines.put, timeout=timeout,
            ))
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error
        finally:
            lines.put(_DONE)

    threading.Thread(target=loop, name=f"driver {operation}", daemon=True).start()
    for batch in batches(lines):
        if on_lines is not None:
            on_lines(batch)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["results"]


def batches(lines: queue.SimpleQueue) -> Iterator[list[LogLine]]:
    """The lines of `lines` until _DONE, in batches (see `operate`)."""
    handed = float("-inf")
    while (line := lines.get()) is not _DONE:
        batch, until = [line], handed + BATCH_SECONDS
        while len(batch) < BATCH_LINES:
            wait = until - time.monotonic()
            try:
                line = lines.get(timeout=wait) if wait > 0 else lines.get_nowait()
            except queue.Empty:
                break
            if line is _DONE:
                yield batch
                return
            batch.append(line)
        handed = time.monotonic()  # the next batch goes BATCH_SECONDS after this one, however long it takes
        yield batch
