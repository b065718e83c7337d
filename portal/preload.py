"""Django set up once for all of `make run`'s children.

Setting Django up costs each process seconds of CPU (importing the apps, their models, admin,
Celery, DRF); `make run` starts several Django processes at once, which on a small machine queue
behind each other for it. So the supervisor starts one fork server (multiprocessing's
"forkserver") that imports this module, setting Django up once, and forks each Django child from
it (`run`), ready to serve. The server holds no connection and no thread: each child opens its
own.

Settings that do not load are not for the server to report: each child then runs its command in
an interpreter of its own, which says what is wrong in the child's output, and the supervisor's
restart policy applies as to any child that dies.
"""

import gc
import multiprocessing
import os
import runpy
import signal
import socket
import sys
from importlib import import_module

import django

# Started by the supervisor with SIGINT held (supervisor._start_fork_server): a Ctrl-C is the
# supervisor's to handle. Ignored before it is let through, a Ctrl-C that came meanwhile is dropped.
if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, ()):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

# What several children would each import again: the URLconf (the system checks of every Celery
# worker and management command load it, and so does the web's first request), Celery's command
# line and worker (worker, prober, beat) and aiohttp's server (lab fleet, identity providers).
SHARED_MODULES = ("portal.urls", "celery.bin.celery", "celery.apps.worker", "aiohttp.web")

try:
    django.setup()
    for module in SHARED_MODULES:
        import_module(module)
    READY = True
except Exception:  # noqa: BLE001 - each child reports it (see the docstring)
    READY = False
# What is loaded now lives as long as the children: their garbage collections need not go through
# it (billiard collects before forking each pool process) nor copy the pages it is on.
gc.freeze()


def run(argv: list[str], *, output: socket.socket, directory: str) -> None:
    """In a child just forked from the server: run `argv` (`python -m MODULE ...`, `python -c
    CODE` or `python SCRIPT ...`) as a new interpreter would, its output going to `output`, in a
    process group of its own (the supervisor kills the group: the worker's pool processes too)."""
    os.setpgid(0, 0)
    # The server ignores SIGINT (the supervisor's to handle); a command may want it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(directory)
    # The main process of its command, as in an interpreter of its own (Celery's log lines say so).
    multiprocessing.current_process().name = "MainProcess"
    for stream in (1, 2):
        os.dup2(output.fileno(), stream)
    output.close()
    if not READY:
        os.execv(argv[0], argv)
    match argv[1:]:
        case ["-m", module, *arguments]:
            sys.argv = [module, *arguments]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        case ["-c", code, *arguments]:
            sys.argv = ["-c", *arguments]
            exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
        case [script, *arguments]:
            sys.argv = [script, *arguments]
            runpy.run_path(script, run_name="__main__")
